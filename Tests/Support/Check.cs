using Sparkle.Tensors;
using Xunit;

namespace Sparkle.Tests.Support;

public static class Check
{
    /// <summary>Default tolerance per dtype: float32 rounding vs float64 math.</summary>
    public static double Tol(DType d) => d == DType.Float32 ? 1e-5 : 1e-12;

    public static void Shape(Tensor t, params int[] expected) =>
        Assert.True(t.Shape.SequenceEqual(expected), $"shape {ShapeUtil.Format(t.Shape)} != expected {ShapeUtil.Format(expected)}");

    /// <summary>|actual - expected| &lt;= atol + rtol |expected| elementwise (NaNs must match).</summary>
    public static void Close(double[] expected, Tensor actual, double rtol, double atol = -1, string what = "")
    {
        if (atol < 0) atol = rtol;
        var a = TensorGen.Values(actual);
        Assert.True(expected.Length == a.Length, $"{what}: {a.Length} elements, expected {expected.Length}");
        for (int i = 0; i < a.Length; i++)
        {
            double e = expected[i], v = a[i];
            if (double.IsNaN(e) && double.IsNaN(v)) continue;
            if (e == v) continue;
            Assert.True(Math.Abs(v - e) <= atol + rtol * Math.Abs(e),
                $"{what}: element {i} = {v:R}, expected {e:R} (shape {ShapeUtil.Format(actual.Shape)}, dtype {actual.DType.Name()})");
        }
    }

    /// <summary>Values drawn from N(0, std²) (or a truncated normal whose bounds lie beyond 6 std, like trunc_normal_'s
    /// default [−2, 2] at std 0.02): sample std within 5 % (over 3 standard errors at n ≥ 2000), mean within 4 standard
    /// errors of 0, nothing beyond 6 std. PyTorch's default conv/linear init (kaiming uniform, a = √5) fails the std.</summary>
    public static void NormalInit(double[] v, double std, string what)
    {
        Assert.True(v.Length >= 2000, $"{what}: {v.Length} values are too few to check a distribution");
        double mean = v.Average(), sd = Math.Sqrt(v.Select(x => (x - mean) * (x - mean)).Average());
        Assert.True(Math.Abs(sd / std - 1) <= 0.05, $"{what}: std {sd:G4}, expected {std:G4}");
        Assert.True(Math.Abs(mean) <= 4 * std / Math.Sqrt(v.Length), $"{what}: mean {mean:G3}");
        Assert.True(v.Max(Math.Abs) <= 6 * std, $"{what}: |value| up to {v.Max(Math.Abs):G3} (std {std:G3})");
    }
}
