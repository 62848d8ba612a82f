namespace Sparkle.Tensors;

/// <summary>
/// Result dtypes of elementwise ops (PyTorch rules, see docs/elementwise.md):
/// tensor-tensor promotes along bool &lt; int32 &lt; int64 &lt; float32 &lt; float64; a scalar keeps a tensor's
/// dtype when it fits its kind (any double for floating tensors, an integral value for integer tensors) and
/// makes an integer tensor float32 otherwise; true division of integers gives float32; arithmetic on two
/// bools runs in int64.
/// </summary>
internal static class Promotion
{
    public static DType Tensors(DType a, DType b) => DTypes.Promote(a, b);

    public static DType WithScalar(DType t, double s)
    {
        if (t.IsFloating()) return t;
        if (!IsIntegral(s)) return DType.Float32;
        return t == DType.Bool ? DType.Int64 : t;
    }

    /// <summary>Arithmetic needs numbers: bool operands are computed as int64.</summary>
    public static DType Arithmetic(DType d) => d == DType.Bool ? DType.Int64 : d;

    /// <summary>True division: integers divide in float32.</summary>
    public static DType TrueDivision(DType d) => d.IsFloating() ? d : DType.Float32;

    public static bool IsIntegral(double s) => double.IsFinite(s) && s == Math.Floor(s);
}
