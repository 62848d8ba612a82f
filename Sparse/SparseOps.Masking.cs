using Sparkle.Nn;
using Sparkle.Tensors;
using Sparkle.Tensors.Backend;

namespace Sparkle.Sparse;

public static partial class SparseOps
{
    /// <summary>The dense {0, 1} mask (B, 1, H, W) of an NCHW tensor's resolution, in its dtype and device.</summary>
    public static Tensor MaskFor(Tensor nchw, SparseContext? context = null)
    {
        var ctx = context ?? SparseContext.Require("MaskFor");
        if (nchw.Rank != 4) throw new ArgumentException($"MaskFor: expected (N, C, H, W), got {ShapeUtil.Format(nchw.Shape)}.");
        return ctx.DenseMask(nchw.Size(2), nchw.Size(3), nchw.DType, nchw.Device);
    }

    /// <summary>x · mask (zeros at masked sites): re-masks after ops with f(0) ≠ 0 (SPARK.md §8.5).</summary>
    public static Tensor ApplyMask(Tensor nchw, SparseContext? context = null) => nchw * MaskFor(nchw, context);

    /// <summary>
    /// Sparse LayerNorm over channels of NCHW input (ConvNeXt channels_first) or over the last dim of NHWC input
    /// (channels_last): LN is per position, so LN then × mask equals LN on active sites only (SPARK.md §1.4).
    /// </summary>
    public static Tensor LayerNorm(Tensor input, Tensor? weight, Tensor? bias, double eps, bool channelsLast, SparseContext? context = null)
    {
        var ctx = context ?? SparseContext.Require("SparseLayerNorm");
        if (input.Rank != 4) throw new ArgumentException($"SparseLayerNorm: expected a 4-D input, got {ShapeUtil.Format(input.Shape)}.");
        if (channelsLast)
        {
            var m = ctx.DenseMask(input.Size(1), input.Size(2), input.DType, input.Device).Permute(0, 2, 3, 1); // (B, H, W, 1)
            return Functional.LayerNorm(input, 1, weight, bias, eps) * m;
        }
        return Functional.LayerNorm2d(input, weight, bias, eps) * MaskFor(input, ctx);
    }

    /// <summary>Official SparseMaxPooling: dense max-pool, then × the output mask.</summary>
    public static Tensor MaxPool2d(Tensor input, int kernelSize, int stride = -1, int padding = 0, SparseContext? context = null)
        => ApplyMask(Functional.MaxPool2d(input, kernelSize, stride, padding), context);

    /// <summary>Official SparseAvgPooling: dense avg-pool (masked zeros count), then × the output mask.</summary>
    public static Tensor AvgPool2d(Tensor input, int kernelSize, int stride = -1, int padding = 0, bool countIncludePad = true, SparseContext? context = null)
        => ApplyMask(Functional.AvgPool2d(input, kernelSize, stride, padding, countIncludePad), context);

    /// <summary>Masked global average pooling: per image and channel, the mean over active sites only (B, C).</summary>
    public static Tensor GlobalAvgPool(Tensor input, SparseContext? context = null)
    {
        var ctx = context ?? SparseContext.Require("SparseGlobalAvgPool");
        var m = MaskFor(input, ctx);
        var count = m.Sum([2, 3], keepDim: false).Maximum(1.0); // (B, 1)
        return (input * m).Sum(2, 3) / count;
    }
}

/// <summary>
/// The masked-dense oracle (the official SparK formulation): dense operators on inputs with masked sites zeroed,
/// outputs multiplied by the mask. Kept in the code as the reference the sparse kernels are tested against, and as the
/// baseline of the benchmarks. Every op reads the current <see cref="SparseContext"/> (or the one given).
/// </summary>
public static class MaskedDense
{
    /// <summary>conv2d(x · m_in) · m_out.</summary>
    public static Tensor Conv2d(Tensor input, Tensor weight, Tensor? bias, int[] stride, int[] padding, int[] dilation, int groups, SparseContext? context = null)
    {
        var ctx = context ?? SparseContext.Require("MaskedDense.Conv2d");
        var x = SparseOps.ApplyMask(input, ctx);
        return SparseOps.ApplyMask(Functional.Conv2d(x, weight, bias, stride, padding, dilation, groups), ctx);
    }

    /// <summary>conv2d(x) · m_out, the official formulation (the input is assumed zero at masked sites already).</summary>
    public static Tensor Conv2dOfficial(Tensor input, Tensor weight, Tensor? bias, int[] stride, int[] padding, int[] dilation, int groups, SparseContext? context = null)
        => SparseOps.ApplyMask(Functional.Conv2d(input, weight, bias, stride, padding, dilation, groups), context);

    /// <summary>
    /// BN with masked statistics (SPARK.md §1.4 formula): mean = Σ(x·m)/n, var = Σ((x−mean)²·m)/n, y = BN(x)·m; running
    /// statistics updated with var·n/(n−1). Built from tensor ops (differentiable through them).
    /// </summary>
    public static Tensor BatchNorm2d(Tensor input, Tensor? runningMean, Tensor? runningVar, Tensor? weight, Tensor? bias,
        bool training, double momentum = 0.1, double eps = 1e-5, SparseContext? context = null)
    {
        var ctx = context ?? SparseContext.Require("MaskedDense.BatchNorm2d");
        var m = SparseOps.MaskFor(input, ctx);
        int c = input.Size(1);
        Tensor mean, variance;
        if (training || runningMean is null || runningVar is null)
        {
            // Σ m counted on the host from the context's site list: m.Sum().Item() cost a device sync per BN layer.
            int sites = ctx.Sites(input.Size(2), input.Size(3)).Count;
            if (sites <= 1)   // as SparseOps.BatchNorm2d: n/(n − 1) would write inf or NaN into running_var
                throw BatchNormShape.TooFewValues("MaskedDense.BatchNorm2d", [sites, c], $" ({sites} active site(s) of input {ShapeUtil.Format(input.Shape)})");
            double n = sites;
            var x = input * m;
            mean = x.Sum([0, 2, 3], keepDim: true) / n;
            variance = ((input - mean).Square() * m).Sum([0, 2, 3], keepDim: true) / n;
            if (training && runningMean is not null && runningVar is not null)
                using (Autograd.GradMode.NoGrad())
                {
                    runningMean.Mul_(1 - momentum).Add_(mean.Detach().Reshape(c), alpha: momentum);
                    runningVar.Mul_(1 - momentum).Add_(variance.Detach().Reshape(c), alpha: momentum * n / (n - 1));
                }
        }
        else
        {
            mean = runningMean.Reshape(1, c, 1, 1);
            variance = runningVar.Reshape(1, c, 1, 1);
        }
        var y = (input - mean) * (variance + eps).Rsqrt();
        if (weight is not null) y = y * weight.Reshape(1, c, 1, 1);
        if (bias is not null) y = y + bias.Reshape(1, c, 1, 1);
        return y * m;
    }
}
