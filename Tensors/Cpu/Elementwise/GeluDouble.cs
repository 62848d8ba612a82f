namespace Sparkle.Tensors.Cpu.Elementwise;

/// <summary>Scalar float64 exact GELU (float64 runs per lane; it is for gradient checks, not speed).</summary>
internal static class GeluDouble
{
    private const double InvSqrt2 = 0.70710678118654757;            // double nearest 1/sqrt 2
    private const double InvSqrt2Lo = -4.833646656726456e-17;      // 1/sqrt 2 - InvSqrt2
    private const double TwoOverSqrtPi = 1.1283791670955126;

    /// <summary>x * 0.5 * (1 + erf(x / sqrt 2)). For x &lt; 0 the bracket is erfc(|x| / sqrt 2), which keeps the
    /// negative tail's relative accuracy (PyTorch's 1 + erf cancels there); the rounding error dv of x / sqrt 2 is
    /// put back to first order, since erfc's relative sensitivity grows like 2|v| far out.</summary>
    public static double Gelu(double x)
    {
        double v = x * InvSqrt2;
        if (!(v < 0)) return x * 0.5 * (1 + ErrorFunction.Erf(v));
        double dv = Math.FusedMultiplyAdd(x, InvSqrt2, -v) + x * InvSqrt2Lo;
        double erfc = ErrorFunction.Erfc(-v) + dv * TwoOverSqrtPi * Math.Exp(-v * v);
        return x * 0.5 * erfc;
    }
}
