using Sparkle.Autograd;
using Sparkle.Tensors;
using Xunit;

namespace Sparkle.Tests.Support;

/// <summary>Inputs and assertions for gradient checks: float64 leaves that require grad, in any layout that a
/// leaf can have (contiguous, permuted, stepped slice — not expanded: GradCheck perturbs one element at a time).</summary>
public static class GradGen
{
    public static readonly Layout[] LeafLayouts = [Layout.Contiguous, Layout.Permuted, Layout.SteppedSlice];

    /// <summary>A float64 leaf that requires grad, random values in [-2, 2], random leaf layout.</summary>
    public static Tensor Leaf(Random rng, int[] shape) => Leaf(rng, shape, LeafLayouts[rng.Next(LeafLayouts.Length)]);

    public static Tensor Leaf(Random rng, int[] shape, Layout layout)
        => TensorGen.Random(rng, shape, DType.Float64, layout).RequireGrad();

    /// <summary>A leaf whose values are pushed away from <paramref name="avoid"/> by at least margin (for kinks:
    /// relu at 0, abs at 0, clamp bounds, ties of max) so central differences do not straddle them.</summary>
    public static Tensor LeafAwayFrom(Random rng, int[] shape, double margin, params double[] avoid)
    {
        var t = TensorGen.Random(rng, shape, DType.Float64, LeafLayouts[rng.Next(LeafLayouts.Length)]);
        foreach (var idx in TensorGen.Indices(shape))
        {
            double v = t.Get<double>(idx);
            foreach (double k in avoid)
                if (Math.Abs(v - k) < margin) v = k + (v >= k ? margin : -margin) * (1 + rng.NextDouble());
            t.Set(v, idx);
        }
        return t.RequireGrad();
    }

    /// <summary>A leaf of distinct values (no ties anywhere), for max/min/sort-like rules.</summary>
    public static Tensor DistinctLeaf(Random rng, int[] shape)
    {
        var t = TensorGen.Random(rng, shape, DType.Float64, LeafLayouts[rng.Next(LeafLayouts.Length)]);
        var order = Enumerable.Range(0, t.NumElements).OrderBy(_ => rng.Next()).ToArray();
        int k = 0;
        foreach (var idx in TensorGen.Indices(shape)) t.Set(order[k++] * 0.1 - 1 + rng.NextDouble() * 0.01, idx);
        return t.RequireGrad();
    }

    /// <summary>A leaf for a normalisation over <paramref name="dims"/>: redrawn until every group it normalises has a
    /// standard deviation of at least <paramref name="minStd"/>. Two nearly equal values normalise to a function whose
    /// higher derivatives grow like 1/σ^k, which central differences cannot resolve to 1e-9 (the gradient check needs a
    /// well-conditioned point, not a different tolerance).</summary>
    public static Tensor NormLeaf(Random rng, int[] shape, int[] dims, double minStd = 0.25)
    {
        while (true)
        {
            var t = Leaf(rng, shape);
            using (GradMode.NoGrad())
                if (t.NumElements == 0 || t.Var(dims, 0).Min().Item() >= minStd * minStd) return t;
        }
    }

    /// <summary>Asserts the gradient check passes, with the function's description in the failure.</summary>
    public static void AssertGrads(string what, Func<Tensor[], Tensor> f, params Tensor[] inputs)
    {
        var report = GradCheck.Run(f, inputs);
        Assert.True(report is null, $"{what}: {report}");
    }
}
