using Sparkle.Tensors;

namespace Sparkle.Models.Spark;

/// <summary>SparK's loss (SPARK.md §3): per-patch normalised target (mean, unbiased variance, +1e-6 inside the square root),
/// per-patch mean squared error, averaged over the masked patches of the whole batch only.</summary>
public static class SparkLoss
{
    /// <summary>The normalised target (B, L, p*p*C) of an (unmasked, ImageNet-normalised) image; carries no gradient.</summary>
    public static Tensor Target(Tensor image, int patch)
    {
        var p = Patchify(image.Detach(), patch);
        var mean = p.Mean([-1], keepDim: true);
        var variance = p.Var([-1], correction: 1, keepDim: true);
        return (p - mean) / (variance + 1e-6).Sqrt();
    }

    /// <summary>
    /// loss = Σ_{b,l} e_{b,l}·masked_{b,l} / (Σ masked + 1e-8), e = mean over the patch of (rec - target)².
    /// <paramref name="active"/> is the (B, 1, f, f) bool mask (true = visible); visible patches contribute nothing.
    /// </summary>
    public static Tensor Loss(Tensor reconstruction, Tensor image, Tensor active, int patch)
    {
        var target = Target(image, patch);
        var rec = Patchify(reconstruction, patch);
        var perPatch = (rec - target).Square().Mean([-1]);                       // (B, L)
        var masked = active.To(perPatch.Device).LogicalNot().Reshape(active.Size(0), -1).To(perPatch.DType);
        return (perPatch * masked).Sum() / (masked.Sum() + 1e-8);
    }

    private static Tensor Patchify(Tensor t, int patch) => Patches.Patchify(t, patch);
}
