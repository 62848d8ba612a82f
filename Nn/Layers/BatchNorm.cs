using Sparkle.Tensors;

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

    public override Tensor Forward(Tensor input)
    {
        bool ok = _rank == 2 ? input.Rank == 4 : input.Rank is 2 or 3;
        if (!ok || input.Size(1) != NumFeatures)
            throw new ArgumentException($"{this}: expected {(_rank == 2 ? "(N, C, H, W)" : "(N, C) or (N, C, L)")} input with C = {NumFeatures}, got shape {ShapeUtil.Format(input.Shape)}.");
        bool useBatchStats = Training || RunningMean is null;
        if (Training && NumBatchesTracked is not null)
            using (Autograd.GradMode.NoGrad()) NumBatchesTracked.Add_(1);
        return Functional.BatchNorm(input, RunningMean, RunningVar, Weight, Bias, training: useBatchStats, momentum: Momentum, eps: Eps);
    }

    public override string ToString() => $"{GetType().Name}({NumFeatures}, eps={Eps}, momentum={Momentum})";
}

public sealed class BatchNorm2d(int numFeatures, double eps = 1e-5, double momentum = 0.1, bool affine = true, bool trackRunningStats = true, DType dtype = DType.Float32)
    : BatchNorm(numFeatures, 2, eps, momentum, affine, trackRunningStats, dtype);

public sealed class BatchNorm1d(int numFeatures, double eps = 1e-5, double momentum = 0.1, bool affine = true, bool trackRunningStats = true, DType dtype = DType.Float32)
    : BatchNorm(numFeatures, 1, eps, momentum, affine, trackRunningStats, dtype);
