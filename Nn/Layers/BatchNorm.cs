using Sparkle.Tensors;
using Sparkle.Tensors.Backend;

namespace Sparkle.Nn.Layers;

/// <summary>
/// torch.nn.BatchNorm1d/2d: weight (1) and bias (0) per channel, buffers running_mean (0), running_var (1) and
/// num_batches_tracked (int64), momentum 0.1, eps 1e-5. Training uses batch statistics and updates the running
/// ones (running_var with the unbiased variance); evaluation uses the running statistics.
/// </summary>
public class BatchNorm : Module
{
    private readonly int _rank;

    protected BatchNorm(int numFeatures, int rank, double eps, double momentum, bool affine, bool trackRunningStats, DType dtype)
    {
        if (numFeatures <= 0) throw new ArgumentException($"BatchNorm: numFeatures must be positive, got {numFeatures}.");
        _rank = rank;
        NumFeatures = numFeatures;
        Eps = eps;
        Momentum = momentum;
        if (affine)
        {
            Weight = RegisterParameter("weight", Tensor.Ones([numFeatures], dtype));
            Bias = RegisterParameter("bias", Tensor.Zeros([numFeatures], dtype));
        }
        if (trackRunningStats)
        {
            RunningMean = RegisterBuffer("running_mean", Tensor.Zeros([numFeatures], dtype));
            RunningVar = RegisterBuffer("running_var", Tensor.Ones([numFeatures], dtype));
            NumBatchesTracked = RegisterBuffer("num_batches_tracked", Tensor.Zeros([], DType.Int64));
        }
    }

    public int NumFeatures { get; }
    public double Eps { get; }
    public double Momentum { get; }
    public Tensor? Weight { get; }
    public Tensor? Bias { get; }
    public Tensor? RunningMean { get; }
    public Tensor? RunningVar { get; }
    public Tensor? NumBatchesTracked { get; }

    public override Tensor Forward(Tensor input) => Forward(input, Activation.None);

    /// <summary>This batch norm followed by <paramref name="activation"/>: in training, one kernel on every device
    /// (the activation costs no pass of its own); in evaluation the two one after the other.</summary>
    public Tensor Forward(Tensor input, Activation activation)
    {
        bool ok = _rank == 2 ? input.Rank == 4 : input.Rank is 2 or 3;
        if (!ok || input.Size(1) != NumFeatures)
            throw new ArgumentException($"{this}: expected {(_rank == 2 ? "(N, C, H, W)" : "(N, C) or (N, C, L)")} input with C = {NumFeatures}, got shape {ShapeUtil.Format(input.Shape)}.");
        bool useBatchStats = Training || RunningMean is null;
        var y = Functional.BatchNorm(input, RunningMean, RunningVar, Weight, Bias, training: useBatchStats, momentum: Momentum, eps: Eps, activation: activation);
        // Counted after the forward, which throws before writing anything for a batch it refuses (PyTorch counts before).
        if (Training && NumBatchesTracked is not null)
            using (Autograd.GradMode.NoGrad()) NumBatchesTracked.Add_(1);
        return y;
    }

    public override string ToString() => $"{GetType().Name}({NumFeatures}, eps={Eps}, momentum={Momentum})";

    /// <summary>
    /// <paramref name="norm"/> then <paramref name="activation"/>, fused into one batch-norm kernel when norm is a plain
    /// <see cref="BatchNorm"/> and activation a <see cref="ReLU"/> or <see cref="ReLU6"/> (they have no parameters, so the
    /// state dict is the same either way); otherwise the two modules one after the other — e.g. when the sparse
    /// conversion has swapped in a sparse batch norm, or a user replaced the activation.
    /// </summary>
    public static Tensor ForwardThen(Module norm, Module activation, Tensor input)
    {
        var act = activation switch { ReLU => Activation.Relu, ReLU6 => Activation.Relu6, _ => Activation.None };
        if (norm is BatchNorm bn && act != Activation.None) return bn.Forward(input, act);
        return activation.Forward(norm.Forward(input));
    }
}

public sealed class BatchNorm2d(int numFeatures, double eps = 1e-5, double momentum = 0.1, bool affine = true, bool trackRunningStats = true, DType dtype = DType.Float32)
    : BatchNorm(numFeatures, 2, eps, momentum, affine, trackRunningStats, dtype);

public sealed class BatchNorm1d(int numFeatures, double eps = 1e-5, double momentum = 0.1, bool affine = true, bool trackRunningStats = true, DType dtype = DType.Float32)
    : BatchNorm(numFeatures, 1, eps, momentum, affine, trackRunningStats, dtype);
