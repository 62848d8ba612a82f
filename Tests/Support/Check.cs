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
}
