using Sparkle.Autograd;
using Sparkle.Tensors;

namespace Sparkle.Nn;

/// <summary>Batch and layer normalisation with PyTorch's numerics, built from tensor ops (differentiable
/// through them).</summary>
public static partial class Functional
{
    /// <summary>
    /// torch.nn.functional.batch_norm over dim 1 of (N, C, ...) input. Training: normalise with the batch mean
    /// and biased variance, and (when given) update running statistics in place as
    /// running = (1 - momentum) * running + momentum * batch, with the unbiased variance for running_var.
    /// Evaluation: normalise with the running statistics.
    /// </summary>
    public static Tensor BatchNorm(Tensor input, Tensor? runningMean, Tensor? runningVar, Tensor? weight, Tensor? bias,
        bool training, double momentum = 0.1, double eps = 1e-5)
    {
        if (input.Rank < 2) throw new ArgumentException($"BatchNorm expects (N, C, ...) input, got shape {ShapeUtil.Format(input.Shape)}.");
        int c = input.Size(1);
        var axes = Enumerable.Range(0, input.Rank).Where(d => d != 1).ToArray();
        var statShape = Enumerable.Repeat(1, input.Rank).ToArray();
        statShape[1] = c;
        if (training && BatchNormFused.Applies(input, weight, bias))
            return BatchNormFused.Forward(input, runningMean, runningVar, weight, bias, momentum, eps);
        Tensor mean, variance;
        if (training)
        {
            int count = input.NumElements / Math.Max(c, 1);
            if (count <= 1)
                throw new ArgumentException($"BatchNorm: expected more than 1 value per channel when training, got input {ShapeUtil.Format(input.Shape)}.");
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
