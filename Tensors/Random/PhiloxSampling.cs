using System.Runtime.CompilerServices;

namespace Sparkle.Tensors;

/// <summary>
/// How one Philox block (four 32-bit words X0..X3) becomes one sample. This is the stream definition of
/// docs/random.md; a GPU kernel must do exactly this to reproduce the CPU numbers. Arithmetic is IEEE
/// float64 without fused multiply-add unless stated; float32 results are the float64 value rounded once.
/// </summary>
public static class PhiloxSampling
{
    private const double TwoPow24Inv = 1.0 / (1 << 24);
    private const double TwoPow32Inv = 1.0 / 4294967296.0;
    private const double TwoPow53Inv = 1.0 / 9007199254740992.0;
    private const double Sqrt2 = 1.4142135623730951;

    /// <summary>The 64-bit word X0 + 2^32 X1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Bits64(PhiloxBlock b) => b.X0 | ((ulong)b.X1 << 32);

    /// <summary>Float32 uniform on [0, 1): the top 24 bits of X0 times 2^-24 (exact in float32).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Uniform01Float(PhiloxBlock b) => (float)((b.X0 >> 8) * TwoPow24Inv);

    /// <summary>Float64 uniform on [0, 1): the top 53 bits of X0 + 2^32 X1, times 2^-53.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double Uniform01Double(PhiloxBlock b) => (Bits64(b) >> 11) * TwoPow53Inv;

    /// <summary>Uniform on [lo, hi) as float32: lo + (hi - lo) u in float64 with u = <see cref="Uniform01Float"/>,
    /// rounded to float32; a result that rounds up to (float)hi becomes the float32 just below it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float UniformFloat(PhiloxBlock b, double lo, double hi)
    {
        float v = (float)(lo + (hi - lo) * Uniform01Float(b));
        float h = (float)hi;
        return v >= h && h > (float)lo ? MathF.BitDecrement(h) : v;
    }

    /// <summary>Uniform on [lo, hi) as float64 with u = <see cref="Uniform01Double"/> (same rounding rule).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double UniformDouble(PhiloxBlock b, double lo, double hi)
    {
        double v = lo + (hi - lo) * Uniform01Double(b);
        return v >= hi && hi > lo ? Math.BitDecrement(hi) : v;
    }

    /// <summary>Standard normal by Box–Muller (cosine branch only): u1 = ((X0 + 2^32 X1) >> 11) + 1) 2^-53 in (0, 1],
    /// u2 = ((X2 + 2^32 X3) >> 11) 2^-53 in [0, 1), z = sqrt(-2 ln u1) cos(2π u2).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double StandardNormal(PhiloxBlock b)
    {
        double u1 = ((Bits64(b) >> 11) + 1) * TwoPow53Inv;
        double u2 = ((b.X2 | ((ulong)b.X3 << 32)) >> 11) * TwoPow53Inv;
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }

    /// <summary>mean + std z.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double Normal(PhiloxBlock b, double mean, double std) => mean + std * StandardNormal(b);

    /// <summary>Constants of the truncated normal: y is drawn uniform on [Lo, Hi) = [2Φ(α) − 1, 2Φ(β) − 1).</summary>
    public readonly record struct TruncNormalParams(double Mean, double Std, double A, double B, double Lo, double Hi);

    /// <summary>torch.nn.init.trunc_normal_'s constants for absolute bounds [a, b].</summary>
    public static TruncNormalParams TruncNormalSetup(double mean, double std, double a, double b)
    {
        double l = ErrorFunction.NormalCdf((a - mean) / std), u = ErrorFunction.NormalCdf((b - mean) / std);
        return new TruncNormalParams(mean, std, a, b, 2 * l - 1, 2 * u - 1);
    }

    /// <summary>Inverse-CDF truncated normal (torch.nn.init.trunc_normal_): y = Lo + (Hi − Lo) u with
    /// u = <see cref="Uniform01Double"/>, x = erfinv(y) (std √2) + mean, clamped to [a, b].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double TruncNormal(PhiloxBlock b, in TruncNormalParams p)
    {
        double y = p.Lo + (p.Hi - p.Lo) * Uniform01Double(b);
        double x = ErrorFunction.ErfInv(y) * (p.Std * Sqrt2) + p.Mean;
        return Math.Clamp(x, p.A, p.B);
    }

    /// <summary>True with probability p: X0 2^-32 &lt; p (exact; p ≤ 0 never, p ≥ 1 always).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Bernoulli(PhiloxBlock b, double p) => b.X0 * TwoPow32Inv < p;

    /// <summary>Integer uniform on [low, high): low + (X0 + 2^32 X1) mod (high − low). The modulo bias is below
    /// (high − low) / 2^64, negligible for any tensor-sized range.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long Randint(PhiloxBlock b, long low, ulong range) => low + (long)(Bits64(b) % range);

    /// <summary>Sort key of element i in Randperm: the 64-bit word X0 + 2^32 X1 (ties broken by i).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong PermutationKey(PhiloxBlock b) => Bits64(b);
}
