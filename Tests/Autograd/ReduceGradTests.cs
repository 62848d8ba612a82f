using FsCheck.Xunit;
using Sparkle.Tensors;
using Sparkle.Tests.Support;
using Xunit;

namespace Sparkle.Tests.Autograd;

/// <summary>
/// Gradients of the reductions (Autograd/Rules/ReduceRules.cs): Sum, Mean, Var (both corrections), Max, Min over
/// random axis subsets (none = all, negative axes) with keepDim both ways, against central differences; the
/// even split of Max/Min ties (torch.amax/amin); expanded and non-contiguous inputs; 0-d results.
/// </summary>
public class ReduceGradTests
{
    private static int[] SmallShape(Random rng) => TensorGen.RandomShape(rng, 0, 3, 4);

    private static string Fmt(int[] s) => ShapeUtil.Format(s);

    /// <summary>Random axes for a reduction: null or empty (all axes), or a random non-empty subset in random
    /// order with each axis given positive or negative. Also returns the normalized axes.</summary>
    private static (int[]? Given, int[] Axes) RandomAxes(Random rng, int rank)
    {
        if (rank == 0 || rng.Next(4) == 0)
            return (rng.Next(2) == 0 ? null : Array.Empty<int>(), Enumerable.Range(0, rank).ToArray());
        int mask = rng.Next(1, 1 << rank);
        var axes = Enumerable.Range(0, rank).Where(d => (mask >> d & 1) != 0).ToArray();
        var given = axes.OrderBy(_ => rng.Next()).Select(a => rng.Next(2) == 0 ? a - rank : a).ToArray();
        return (given, axes);
    }

    private static string AxesText(int[]? given) => given is null ? "null" : $"({string.Join(",", given)})";

    private static int Count(int[] shape, int[] axes) => axes.Aggregate(1, (n, a) => n * shape[a]);

    [Property(MaxTest = 60)]
    public void ReductionsGradCheckOverRandomAxes(long seed)
    {
        var rng = new SeededRandom(seed);
        var shape = SmallShape(rng);
        var (given, axes) = RandomAxes(rng, shape.Length);
        int n = Count(shape, axes);
        foreach (bool keep in new[] { false, true })
        {
            string what = $"{Fmt(shape)} axes {AxesText(given)} keepDim={keep} (seed {seed})";
            GradGen.AssertGrads("Sum " + what, t => t[0].Sum(given, keep), GradGen.Leaf(rng, shape));
            GradGen.AssertGrads("Mean " + what, t => t[0].Mean(given, keep), GradGen.Leaf(rng, shape));
            GradGen.AssertGrads("Var(correction 0) " + what, t => t[0].Var(given, 0, keep), GradGen.Leaf(rng, shape));
            if (n >= 2)   // n - 1 = 0 would divide by zero (NaN in torch too)
                GradGen.AssertGrads("Var(correction 1) " + what, t => t[0].Var(given, 1, keep), GradGen.Leaf(rng, shape));
            GradGen.AssertGrads("Max " + what, t => t[0].Max(given, keep), GradGen.DistinctLeaf(rng, shape));
            GradGen.AssertGrads("Min " + what, t => t[0].Min(given, keep), GradGen.DistinctLeaf(rng, shape));
        }
    }

    /// <summary>A reduction inside a composite: the reduced result broadcasts back against the input
    /// (x - mean, softmax-like normalisations), so keepDim shapes and broadcasting must line up.</summary>
    [Property(MaxTest = 30)]
    public void KeepDimResultsBroadcastBackGradCheck(long seed)
    {
        var rng = new SeededRandom(seed);
        var shape = SmallShape(rng);
        var (given, _) = RandomAxes(rng, shape.Length);
        string what = $"{Fmt(shape)} axes {AxesText(given)} (seed {seed})";
        GradGen.AssertGrads("(x - mean) * max " + what,
            t => (t[0] - t[0].Mean(given, true)) * t[0].Max(given, true), GradGen.DistinctLeaf(rng, shape));
        GradGen.AssertGrads("x / sum(x^2) " + what,
            t => t[0] / (t[0].Square().Sum(given, true) + 1.0), GradGen.Leaf(rng, shape));
    }

    [Fact]
    public void MaxWithTiesSplitsTheGradientEvenly()
    {
        var x = Tensor.FromArray(new double[] { 1, 3, 3 }).RequireGrad();
        x.Max().Backward();
        Check.Close([0, 0.5, 0.5], x.Grad!, 0, 0, "Max of [1, 3, 3]");

        var y = Tensor.FromArray(new double[] { 2, 1, 1, 5 }).RequireGrad();
        y.Min().Backward();
        Check.Close([0, 0.5, 0.5, 0], y.Grad!, 0, 0, "Min of [2, 1, 1, 5]");

        var all = Tensor.FromArray(new double[] { 2, 2, 2, 2 }).RequireGrad();
        all.Max().Backward();
        Check.Close([0.25, 0.25, 0.25, 0.25], all.Grad!, 0, 0, "Max of four equal values");

        // per row, with a cotangent: row 0 ties twice, row 1 three times, row 2 has one winner
        var m = Tensor.FromArray(new double[] { 3, 3, 1, 2, 2, 2, 0, 4, 1 }, [3, 3]).RequireGrad();
        m.Max([1], keepDim: false).Backward(Tensor.FromArray(new double[] { 2, 3, 5 }));
        Check.Close([1, 1, 0, 1, 1, 1, 0, 5, 0], m.Grad!, 1e-15, 0, "row Max with ties");

        // over axis 0 of a column-major (permuted) leaf
        var p = Tensor.FromArray(new double[] { 7, 1, 1, 1, 7, 2 }, [2, 3]).Permute(1, 0).RequireGrad();   // [[7,1],[1,7],[1,2]]
        Assert.False(p.IsContiguous);
        p.Min([0], keepDim: true).Backward(Tensor.FromArray(new double[] { 1, 1 }, [1, 2]));
        Check.Close([0, 1, 0.5, 0, 0.5, 0], p.Grad!, 0, 0, "column Min with ties, permuted leaf");
    }

    [Fact]
    public void SumOfAnExpandedViewAccumulatesIntoTheLeaf()
    {
        var x = Tensor.FromArray(new double[] { 1, -2, 3 }).RequireGrad();
        x.Reshape(1, 3).Expand(4, 3).Sum().Backward();
        Check.Close([4, 4, 4], x.Grad!, 0, 0, "Sum of x expanded to 4x3");

        var c = Tensor.FromArray(new double[] { 0.5, 2 }, [2, 1]).RequireGrad();
        c.Expand(2, 5).Sum([1], keepDim: false).Backward(Tensor.FromArray(new double[] { 3, -1 }));
        Check.Shape(c.Grad!, 2, 1);
        Check.Close([15, -5], c.Grad!, 0, 0, "row Sum of a column expanded to 2x5");
    }

    [Property(MaxTest = 30)]
    public void ReductionsOfExpandedViewsGradCheck(long seed)
    {
        var rng = new SeededRandom(seed);
        var shape = SmallShape(rng);
        int extra = rng.Next(1, 4);
        int[] big = [extra, .. shape];
        var (given, _) = RandomAxes(rng, big.Length);
        bool keep = rng.Next(2) == 0;
        string what = $"{Fmt(shape)} expanded to {Fmt(big)}, axes {AxesText(given)} keepDim={keep} (seed {seed})";
        GradGen.AssertGrads("Sum of expanded " + what, t => t[0].Expand(big).Sum(given, keep), GradGen.Leaf(rng, shape));
        GradGen.AssertGrads("Mean of expanded " + what, t => t[0].Expand(big).Mean(given, keep), GradGen.Leaf(rng, shape));
        GradGen.AssertGrads("Var of expanded " + what, t => t[0].Expand(big).Var(given, 0, keep), GradGen.Leaf(rng, shape));
    }

    [Fact]
    public void MeanToAZeroDimResultBackpropagatesWithAnImpliedGradient()
    {
        var x = Tensor.FromArray(new double[] { 1, 2, 3, 4, 5, 6 }, [2, 3]).RequireGrad();
        var m = x.Mean();
        Assert.Equal(0, m.Rank);
        Assert.Equal(3.5, m.Item());
        m.Backward();
        Check.Shape(x.Grad!, 2, 3);
        Check.Close(Enumerable.Repeat(1.0 / 6, 6).ToArray(), x.Grad!, 1e-15, 0, "Mean grad");

        // a 0-d leaf reduced to 0-d: the gradient is the 0-d tensor 1
        var s = Tensor.Scalar(2.5, DType.Float64).RequireGrad();
        s.Mean().Backward();
        Check.Shape(s.Grad!, []);
        Check.Close([1], s.Grad!, 0, 0, "Mean of a 0-d leaf");

        // float32 keeps its dtype through the implied gradient
        var f = Tensor.FromArray(new float[] { 1, 2, 3, 4 }).RequireGrad();
        f.Mean().Backward();
        Assert.Equal(DType.Float32, f.Grad!.DType);
        Check.Close([0.25, 0.25, 0.25, 0.25], f.Grad!, 0, 0, "float32 Mean grad");
    }

    /// <summary>Non-contiguous leaves (permuted and stepped slices): gradients by hand, in logical order.</summary>
    [Property(MaxTest = 30)]
    public void ReductionsOfANonContiguousLeaf(long seed)
    {
        var rng = new SeededRandom(seed);
        var shape = TensorGen.RandomShape(rng, 2, 3, 4);
        shape[0] = Math.Max(shape[0], 2);
        Layout layout;
        Tensor x;
        do   // a stepped slice along dim 0 (size >= 2) is never contiguous, so this ends
        {
            layout = rng.Next(2) == 0 ? Layout.Permuted : Layout.SteppedSlice;
            x = TensorGen.Random(rng, shape, DType.Float64, layout);
        } while (x.IsContiguous);
        x.RequireGrad();
        var (given, axes) = RandomAxes(rng, shape.Length);
        bool keep = rng.Next(2) == 0;
        string what = $"{layout} {Fmt(shape)} strides {Fmt(x.StridesArray())} axes {AxesText(given)} keepDim={keep} (seed {seed})";
        var values = TensorGen.Values(x);
        int n = Count(shape, axes);

        // group (output position) of each input element, row-major over the logical shape
        var group = TensorGen.Indices(shape).Select(idx =>
        {
            int g = 0;
            for (int d = 0; d < shape.Length; d++) if (!axes.Contains(d)) g = g * shape[d] + idx[d];
            return g;
        }).ToArray();
        int groups = group.Max() + 1;
        var mean = new double[groups];
        for (int i = 0; i < values.Length; i++) mean[group[i]] += values[i] / n;

        x.Sum(given, keep).Sum().Backward();
        Check.Close(Enumerable.Repeat(1.0, values.Length).ToArray(), x.Grad!, 0, 0, "Sum " + what);

        x.Grad = null;
        x.Mean(given, keep).Sum().Backward();
        Check.Close(Enumerable.Repeat(1.0 / n, values.Length).ToArray(), x.Grad!, 1e-14, 0, "Mean " + what);

        // d var / dx = 2 (x - mean) / (n - correction), for correction 0
        x.Grad = null;
        x.Var(given, 0, keep).Sum().Backward();
        var dvar = values.Select((v, i) => 2 * (v - mean[group[i]]) / n).ToArray();
        Check.Close(dvar, x.Grad!, 1e-12, 1e-14, "Var " + what);

        if (n >= 2) GradGen.AssertGrads("Var(correction 1) " + what, t => t[0].Var(given, 1, keep), x);
        var d = GradGen.DistinctLeaf(rng, shape);
        GradGen.AssertGrads("Max " + what, t => t[0].Max(given, keep), d);
        GradGen.AssertGrads("Min " + what, t => t[0].Min(given, keep), d);
    }
}
