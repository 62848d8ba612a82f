using Sparkle.Autograd;
using Sparkle.Tensors;
using Sparkle.Tensors.Backend;

namespace Sparkle.Nn;

/// <summary>Batch and layer normalisation with PyTorch's numerics. Training-mode batch norm is one recorded op over the
/// backend's kernel (IBackend.BatchNormTrainForward/Backward: the same algorithm on every device, optionally with the
/// following ReLU/ReLU6 fused); the rest is built from tensor ops (differentiable through them).</summary>
public static partial class Functional
{
    /// <summary>
    /// torch.nn.functional.batch_norm over dim 1 of (N, C, ...) input, followed by <paramref name="activation"/>.
    /// Training: normalise with the batch mean and biased variance, and (when given) update running statistics in place
    /// as running = (1 - momentum) * running + momentum * batch, with the unbiased variance for running_var.
    /// Evaluation: normalise with the running statistics. Float training runs the backend's fused kernel (one recorded
    /// op, statistics and running update on the device); a channels-last NCHW input runs it as an (N·H·W, C) rows
    /// matrix, without a copy, and gives a channels-last output.
    /// </summary>
    public static Tensor BatchNorm(Tensor input, Tensor? runningMean, Tensor? runningVar, Tensor? weight, Tensor? bias,
        bool training, double momentum = 0.1, double eps = 1e-5, Activation activation = Activation.None)
    {
        if (input.Rank < 2) throw new ArgumentException($"BatchNorm expects (N, C, ...) input, got shape {ShapeUtil.Format(input.Shape)}.");
        // Distributed training with SyncBN installed on this thread: statistics over the whole group's batch.
        if (training && Parallel.SyncBatchNorm.Current is { } group && input.DType is DType.Float32 or DType.Float64)
            return Activate(Parallel.SyncBatchNorm.Train(input, runningMean, runningVar, weight, bias, momentum, eps, group), activation);
        if (training && input.DType is DType.Float32 or DType.Float64
            && (weight is null || weight.DType == input.DType) && (bias is null || bias.DType == input.DType))
            return BatchNormTraining(input, runningMean, runningVar, weight, bias, momentum, eps, activation);
        return Activate(BatchNormComposed(input, runningMean, runningVar, weight, bias, training, momentum, eps), activation);
    }

    private static Tensor Activate(Tensor y, Activation activation) => activation switch
    {
        Activation.Relu => y.Relu(),
        Activation.Relu6 => y.Relu6(),
        _ => y,
    };

    /// <summary>Batch norm in tensor ops (evaluation mode, other dtypes; the tests' reference for the kernel).</summary>
    internal static Tensor BatchNormComposed(Tensor input, Tensor? runningMean, Tensor? runningVar, Tensor? weight, Tensor? bias,
        bool training, double momentum = 0.1, double eps = 1e-5)
    {
        int c = input.Size(1);
        var axes = Enumerable.Range(0, input.Rank).Where(d => d != 1).ToArray();
        var statShape = Enumerable.Repeat(1, input.Rank).ToArray();
        statShape[1] = c;
        Tensor mean, variance;
        if (training)
        {
            int count = input.NumElements / Math.Max(c, 1);
            if (count <= 1) throw BatchNormShape.TooFewValues("BatchNorm", input.Shape);
            mean = input.Mean(axes, keepDim: true);
            variance = input.Var(axes, correction: 0, keepDim: true);
            if (runningMean is not null && runningVar is not null)
            {
                using var _ = GradMode.NoGrad();
                runningMean.Mul_(1 - momentum).Add_(mean.Detach().Reshape(c), alpha: momentum);
                runningVar.Mul_(1 - momentum).Add_(variance.Detach().Reshape(c), alpha: momentum * count / (count - 1.0));
            }
        }
        else
        {
            if (runningMean is null || runningVar is null)
                throw new InvalidOperationException("BatchNorm in evaluation mode needs running statistics (track_running_stats).");
            mean = runningMean.Reshape(statShape);
            variance = runningVar.Reshape(statShape);
        }
        var y = (input - mean) * (variance + eps).Rsqrt();
        if (weight is not null) y = y * weight.Reshape(statShape);
        if (bias is not null) y = y + bias.Reshape(statShape);
        return y;
    }

    /// <summary>The training forward through the backend: x as (N, C, *) planes or (n, C) rows, y fresh, the batch mean and
    /// 1/sqrt(var + eps) in float64 saved for the backward, running statistics updated on the device.</summary>
    private static Tensor BatchNormTraining(Tensor input, Tensor? runningMean, Tensor? runningVar, Tensor? weight, Tensor? bias,
        double momentum, double eps, Activation act)
    {
        int c = input.Size(1);
        // A dense channels-last NCHW tensor is a contiguous (N·H·W, C) rows matrix: the rows kernel reads it in place.
        bool rowsView = input.Rank == 4 && !input.IsContiguous && input.Permute(0, 2, 3, 1).IsContiguous;
        if (input.NumElements / Math.Max(c, 1) <= 1) throw BatchNormShape.TooFewValues("BatchNorm", input.Shape);
        foreach (var (t, name) in new[] { (weight, "weight"), (bias, "bias"), (runningMean, "running_mean"), (runningVar, "running_var") })
            if (t is not null && (t.Device != input.Device || t.Rank != 1 || t.Size(0) != c))
                throw new ArgumentException($"BatchNorm: {name} {ShapeUtil.Format(t.Shape)} on {t.Device} must be ({c}) on the input's device {input.Device}; input {ShapeUtil.Format(input.Shape)}.");
        var x = rowsView ? input.Detach().Permute(0, 2, 3, 1).Reshape(-1, c) : input.Detach().Contiguous();
        var shape = BatchNormShape.Of(x);
        var w = weight?.Detach().Contiguous();
        var b = bias?.Detach().Contiguous();
        var y = Tensor.Empty(x.ShapeArray(), x.DType, x.Device);
        var mean = Tensor.Empty([c], DType.Float64, x.Device);
        var invStd = Tensor.Empty([c], DType.Float64, x.Device);
        // The kernel updates running statistics of x's dtype in place; others go through a copy.
        Tensor? rm = null, rv = null;
        if (runningMean is not null && runningVar is not null)
        {
            rm = RunningOperand(runningMean, x.DType);
            rv = RunningOperand(runningVar, x.DType);
        }
        x.Backend.BatchNormTrainForward(x, w, b, eps, act, y, mean, invStd, rm, rv, momentum);
        using (GradMode.NoGrad())
        {
            if (rm is not null && !ReferenceEquals(rm, runningMean)) runningMean!.Copy_(rm);
            if (rv is not null && !ReferenceEquals(rv, runningVar)) runningVar!.Copy_(rv);
        }
        var output = rowsView ? FromRows(y, input.ShapeArray()) : y;
        if (!Differentiable.NeedsGrad(input, weight, bias)) return output;
        var saved = new[] { x, act == Activation.None ? null : y, w }.OfType<Tensor>().ToArray();
        return Differentiable.Record(act == Activation.None ? "BatchNorm" : $"BatchNorm{act}", output, [input, weight, bias],
            BatchNormBackward(input.ShapeArray(), input.RequiresGrad, x, act == Activation.None ? null : y, w, mean, invStd, act, rowsView, weight?.RequiresGrad == true, bias?.RequiresGrad == true, shape), saved);
    }

    /// <summary>Built apart from the forward, so the closure holds what the backward reads and nothing else (the forward's
    /// output is kept only when the activation needs it).</summary>
    private static BackwardFunction BatchNormBackward(int[] inputShape, bool nx, Tensor x, Tensor? y, Tensor? w, Tensor mean, Tensor invStd, Activation act,
        bool rowsView, bool nw, bool nb, BatchNormShape shape)
    {
        int c = shape.Channels;
        return g =>
        {
            var gy = rowsView ? g.Permute(0, 2, 3, 1).Contiguous().Reshape(-1, c) : g.Contiguous();
            var gx = nx ? Tensor.Empty(x.ShapeArray(), x.DType, x.Device) : null;
            var gw = nw ? Tensor.Empty([c], x.DType, x.Device) : null;
            var gb = nb ? Tensor.Empty([c], x.DType, x.Device) : null;
            x.Backend.BatchNormTrainBackward(gy, x, y, w, mean, invStd, act, gx, gw, gb);
            Tensor? dx = gx is null || !rowsView ? gx : FromRows(gx, inputShape);
            return [dx, gw, gb];
        };
    }

    /// <summary>An (N·H·W, C) rows matrix as the channels-last NCHW tensor of <paramref name="shape"/>.</summary>
    private static Tensor FromRows(Tensor rows, int[] shape)
        => rows.Reshape(shape[0], shape[2], shape[3], shape[1]).Permute(0, 3, 1, 2);

    private static Tensor RunningOperand(Tensor running, DType dtype)
        => running.DType == dtype && running.IsContiguous ? running : running.To(dtype).Contiguous();

    /// <summary>torch.nn.functional.layer_norm over the last <paramref name="normalizedDims"/> dims (biased variance).</summary>
    public static Tensor LayerNorm(Tensor input, int normalizedDims, Tensor? weight, Tensor? bias, double eps = 1e-5)
    {
        if (normalizedDims < 1 || normalizedDims > input.Rank)
            throw new ArgumentException($"LayerNorm: cannot normalise the last {normalizedDims} dims of shape {ShapeUtil.Format(input.Shape)}.");
        var axes = Enumerable.Range(input.Rank - normalizedDims, normalizedDims).ToArray();
        var mean = input.Mean(axes, keepDim: true);
        var y = (input - mean) * (input.Var(axes, correction: 0, keepDim: true) + eps).Rsqrt();
        if (weight is not null) y = y * weight;
        if (bias is not null) y = y + bias;
        return y;
    }

    /// <summary>LayerNorm over the channels of NCHW input (ConvNeXt's data_format="channels_first"):
    /// statistics over dim 1, weight and bias of shape (C).</summary>
    public static Tensor LayerNorm2d(Tensor input, Tensor? weight, Tensor? bias, double eps = 1e-6)
    {
        if (input.Rank != 4) throw new ArgumentException($"LayerNorm2d expects NCHW input, got shape {ShapeUtil.Format(input.Shape)}.");
        var mean = input.Mean([1], keepDim: true);
        var y = (input - mean) * (input.Var([1], correction: 0, keepDim: true) + eps).Rsqrt();
        int c = input.Size(1);
        if (weight is not null) y = y * weight.Reshape(1, c, 1, 1);
        if (bias is not null) y = y + bias.Reshape(1, c, 1, 1);
        return y;
    }
}
