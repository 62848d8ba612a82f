using Sparkle.Tensors;
using Sparkle.Tests.Support;
using Xunit;

namespace Sparkle.Tests;

/// <summary>Naive reductions for the tests: group every element by its output position, then fold in float64.</summary>
public static class ReduceReference
{
    /// <summary>The input values (row-major read through indices) grouped by output position in the keepdim result.</summary>
    public static List<double>[] Groups(Tensor x, int[] axes)
    {
        var shape = x.ShapeArray();
        var keep = (int[])shape.Clone();
        foreach (int a in axes) keep[a] = 1;
        var ks = ShapeUtil.ContiguousStrides(keep);
        var groups = Enumerable.Range(0, ShapeUtil.NumElements(keep)).Select(_ => new List<double>()).ToArray();
        var vals = TensorGen.Values(x);
        int flat = 0;
        foreach (var idx in TensorGen.Indices(shape))
        {
            int o = 0;
            for (int d = 0; d < shape.Length; d++) if (!axes.Contains(d)) o += idx[d] * ks[d];
            groups[o].Add(vals[flat++]);
        }
        return groups;
    }

    public static double Var(List<double> g, int correction)
    {
        double m = g.Average();
        return g.Sum(v => (v - m) * (v - m)) / Math.Max(0, g.Count - correction);
    }

    /// <summary>|actual - expected| &lt;= tol * scale per element (scale from the op: sums of magnitudes), NaNs must match.</summary>
    public static void Near(double[] expected, double[] scale, Tensor actual, double tol, string what)
    {
        var a = TensorGen.Values(actual);
        Assert.True(a.Length == expected.Length, $"{what}: {a.Length} values, expected {expected.Length}");
        for (int i = 0; i < a.Length; i++)
        {
            if (double.IsNaN(expected[i]) && double.IsNaN(a[i])) continue;
            if (expected[i] == a[i]) continue;
            Assert.True(Math.Abs(a[i] - expected[i]) <= tol * scale[i],
                $"{what}: element {i} = {a[i]:R}, expected {expected[i]:R} (shape {ShapeUtil.Format(actual.Shape)})");
        }
    }

    public static int[] KeepShape(int[] shape, int[] axes, bool keepDim) =>
        keepDim ? shape.Select((s, i) => axes.Contains(i) ? 1 : s).ToArray() : shape.Where((_, i) => !axes.Contains(i)).ToArray();
}
