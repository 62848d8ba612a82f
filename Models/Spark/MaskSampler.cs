using Sparkle.Tensors;

namespace Sparkle.Models.Spark;

/// <summary>SparK's mask (SPARK.md §1.1): len_keep = round-half-to-even(f*f*(1 - ratio)) visible patches per image, chosen by a
/// uniform random permutation per image; the result is a bool (B, 1, f, f) tensor, true = active (visible).</summary>
public static class MaskSampler
{
    public static int LenKeep(int f, double maskRatio)
    {
        if (maskRatio < 0 || maskRatio >= 1) throw new ArgumentException($"Mask ratio must be in [0, 1), got {maskRatio}.");
        return (int)Math.Round(f * f * (1 - maskRatio), MidpointRounding.ToEven);
    }

    public static Tensor Sample(int batch, int f, double maskRatio, Generator? generator = null, Device? device = null)
    {
        int keep = LenKeep(f, maskRatio), l = f * f;
        var active = new bool[batch * l];
        for (int b = 0; b < batch; b++)
        {
            var perm = Tensor.Randperm(l, generator).ToArray<long>();
            for (int i = 0; i < keep; i++) active[b * l + perm[i]] = true;
        }
        return Tensor.FromArray(active, [batch, 1, f, f], device);
    }
}
