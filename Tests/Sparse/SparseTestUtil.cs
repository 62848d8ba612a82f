using Sparkle.Sparse;
using Sparkle.Tensors;
using Sparkle.Tests.Support;
using Xunit;

namespace Sparkle.Tests.Sparse;

internal static class SparseTestUtil
{
    /// <summary>A random mask with at least one active and (when f·f > 1) usually some masked patches.</summary>
    public static ActiveMask RandomMask(Random rng, int batch, int f, int minActive = 1, int minMasked = 0)
    {
        var bits = new bool[batch * f * f];
        Assert.True(minActive + minMasked <= bits.Length, $"{minActive} active and {minMasked} masked patches asked of {bits.Length}");
        double p = 0.3 + 0.5 * rng.NextDouble();
        for (int i = 0; i < bits.Length; i++) bits[i] = rng.NextDouble() < p;
        var order = Enumerable.Range(0, bits.Length).OrderBy(_ => rng.Next()).ToArray();
        foreach (int i in order.Take(minActive)) bits[i] = true;
        foreach (int i in order.Skip(minActive).Take(minMasked)) bits[i] = false;
        return new ActiveMask(batch, f, f, bits);
    }

    /// <summary>A mask of an (n, ·, h, h) activation with at least <paramref name="sites"/> active sites at resolution h
    /// (batch statistics need 2); n is raised when the batch has fewer sites than that.</summary>
    public static ActiveMask MaskWithActiveSites(Random rng, ref int n, int f, int h, int sites = 2)
    {
        int perPatch = (h / f) * (h / f);
        int patches = (sites + perPatch - 1) / perPatch;
        while (n * f * f < patches) n++;
        return RandomMask(rng, n, f, patches);
    }

    /// <summary>A random (N, C, H, W) activation, NCHW-contiguous or channels-last, values in [-2, 2] everywhere
    /// (masked sites too: sparse ops must ignore them).</summary>
    public static Tensor Activation(Random rng, int n, int c, int h, int w, DType dt, bool channelsLast)
        => channelsLast ? TensorGen.Random(rng, [n, h, w, c], dt).Permute(0, 3, 1, 2) : TensorGen.Random(rng, [n, c, h, w], dt);

    /// <summary>Normwise relative error max|a − e| / max(max|e|, 1e-12) within tol.</summary>
    public static void Near(Tensor expected, Tensor actual, double tol, string what, double floor = 1e-12)
    {
        Check.Shape(actual, expected.ShapeArray());
        var e = expected.ToDoubleArray();
        var a = actual.ToDoubleArray();
        double err = 0, scale = 0;
        for (int i = 0; i < a.Length; i++) { err = Math.Max(err, Math.Abs(a[i] - e[i])); scale = Math.Max(scale, Math.Abs(e[i])); }
        Assert.True(err <= tol * Math.Max(scale, floor), $"{what}: max error {err:G3} vs max |expected| {scale:G3} (tolerance {tol:G2} relative)");
    }

    /// <summary>A copy with the same layout (channels-last stays channels-last).</summary>
    public static Tensor CloneLike(Tensor t) => t.Rank == 4 && t.Stride(1) == 1 && t.Size(1) > 1
        ? t.Permute(0, 2, 3, 1).Clone().Permute(0, 3, 1, 2) : t.Clone();

    /// <summary>Asserts every element at a masked site of an NCHW tensor is exactly zero.</summary>
    public static void ZeroAtMasked(Tensor t, SparseContext ctx, string what)
    {
        var m = ctx.DenseMask(t.Size(2), t.Size(3), DType.Float64);
        var v = (t.To(DType.Float64) * (1.0 - m)).Abs().Max().Item();
        Assert.True(v == 0, $"{what}: non-zero value {v} at a masked site");
    }
}
