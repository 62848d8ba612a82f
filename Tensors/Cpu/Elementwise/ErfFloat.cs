using System.Runtime.CompilerServices;

namespace Sparkle.Tensors.Cpu.Elementwise;

/// <summary>
/// Vectorised float32 erf and exact GELU, accurate to about one float32 ulp.
/// |x| &lt; 1: erf x = x * P(x^2), P of degree 5. Beyond: erfc x = exp(-x^2) * R, R a polynomial in x on [0.5, 2]
/// (degree 10) and in 1/x on [2, 10] (degree 8); the piece is chosen per lane with selects, no branches.
/// The polynomials interpolate the exact functions at Chebyshev nodes (see erf_coefficients.py);
/// their error after rounding the coefficients to float32 is below 7e-8 relative.
/// GELU uses erfc directly for x/sqrt2 &lt; -0.5, so 1 + erf does not cancel there.
/// </summary>
internal static class ErfFloat
{
    private const double InvSqrt2 = 0.70710678118654752440;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV Erf<TV, TS>(TV x) where TV : struct where TS : ISimdOps<float, TV>
    {
        var ax = TS.Abs(x);
        var small = TS.Mul(x, SmallPoly<TV, TS>(TS.Mul(x, x)));
        var (hi, lo) = SquareSplit<TV, TS>(x, TS.Create(1));
        var large = TS.CopySign(TS.Sub(TS.Create(1), Erfc<TV, TS>(ax, hi, lo)), x);
        return TS.Select(TS.LessThan(ax, TS.Create(1)), small, large);
    }

    /// <summary>x * 0.5 * (1 + erf(x / sqrt 2)).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV Gelu<TV, TS>(TV x) where TV : struct where TS : ISimdOps<float, TV>
    {
        var v = TS.Mul(x, TS.Create(InvSqrt2));
        var av = TS.Abs(v);
        var one = TS.Create(1);
        var onePlusSmall = TS.Fma(v, SmallPoly<TV, TS>(TS.Mul(v, v)), one);
        // exp(-v^2) from x^2 / 2 (exact halving), not from the rounded v: keeps erfc's relative accuracy far out
        var (hi, lo) = SquareSplit<TV, TS>(x, TS.Create(0.5));
        var erfc = Erfc<TV, TS>(av, hi, lo);
        // v < -0.5: erfc (1 + erf would cancel); |v| < 1: 1 + x P(x^2); v >= 1: 2 - erfc
        var onePlusErf = TS.Select(TS.LessThan(v, TS.Create(-0.5)), erfc,
            TS.Select(TS.LessThan(av, one), onePlusSmall, TS.Sub(TS.Create(2), erfc)));
        return TS.Mul(TS.Mul(x, TS.Create(0.5)), onePlusErf);
    }

    /// <summary>erf(x) / x as a polynomial in t = x^2, for |x| &lt; 1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TV SmallPoly<TV, TS>(TV t) where TV : struct where TS : ISimdOps<float, TV>
    {
        var p = TS.Create(-0.0005648059886880219f);
        p = TS.Fma(p, t, TS.Create(0.004921761807054281f));
        p = TS.Fma(p, t, TS.Create(-0.026715055108070374f));
        p = TS.Fma(p, t, TS.Create(0.11280316859483719f));
        p = TS.Fma(p, t, TS.Create(-0.37612342834472656f));
        p = TS.Fma(p, t, TS.Create(1.1283791065216064f));
        return p;
    }

    /// <summary>scale * x^2 as hi + lo exactly (scale a power of two).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (TV Hi, TV Lo) SquareSplit<TV, TS>(TV x, TV scale) where TV : struct where TS : ISimdOps<float, TV>
    {
        var sq = TS.Mul(x, x);
        return (TS.Mul(sq, scale), TS.Mul(TS.Fma(x, x, TS.Sub(TS.Create(0), sq)), scale));
    }

    /// <summary>erfc(a) = exp(-(hi + lo)) * R(a) for a &gt;= 0.5, where hi + lo = a^2 (other lanes give garbage that
    /// callers select away). Beyond a = 10 the result underflows to 0; a is clamped there so that infinities do
    /// not turn into NaN.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TV Erfc<TV, TS>(TV a, TV hi, TV lo) where TV : struct where TS : ISimdOps<float, TV>
    {
        var ten = TS.Create(10.5);
        var far10 = TS.LessThan(ten, a);
        a = TS.Select(far10, ten, a); // NaN stays NaN
        hi = TS.Select(far10, TS.Create(110.25), hi);
        lo = TS.Select(far10, TS.Create(0), lo);
        // near piece: a in [0.5, 2], s = (a - 1.25) / 0.75; far piece: a in [2, 10], s = (1/a - 0.3) / 0.2
        var far = TS.LessThan(TS.Create(2), a);
        var s = TS.Select(far, TS.Mul(TS.Sub(TS.Div(TS.Create(1), a), TS.Create(0.3f)), TS.Create(5f)),
            TS.Mul(TS.Sub(a, TS.Create(1.25f)), TS.Create(1.3333333730697632f)));
        var p = TS.Select(far, TS.Create(0f), TS.Create(3.557912350515835e-06f));
        p = TS.Fma(p, s, TS.Select(far, TS.Create(0f), TS.Create(-1.4450056369241793e-05f)));
        p = TS.Fma(p, s, TS.Select(far, TS.Create(-6.948570216991357e-07f), TS.Create(4.6922050387365744e-05f)));
        p = TS.Fma(p, s, TS.Select(far, TS.Create(3.3631404221523553e-06f), TS.Create(-0.000174690067069605f)));
        p = TS.Fma(p, s, TS.Select(far, TS.Create(-3.68426435670699e-06f), TS.Create(0.00063261145260185f)));
        p = TS.Fma(p, s, TS.Select(far, TS.Create(-4.1300900193164125e-05f), TS.Create(-0.0021561242174357176f)));
        p = TS.Fma(p, s, TS.Select(far, TS.Create(0.0002938013931270689f), TS.Create(0.006964491214603186f)));
        p = TS.Fma(p, s, TS.Select(far, TS.Create(-0.0005853004404343665f), TS.Create(-0.021185653284192085f)));
        p = TS.Fma(p, s, TS.Select(far, TS.Create(-0.007011048961430788f), TS.Create(0.060072511434555054f)));
        p = TS.Fma(p, s, TS.Select(far, TS.Create(0.10025057941675186f), TS.Create(-0.1566164195537567f)));
        p = TS.Fma(p, s, TS.Select(far, TS.Create(0.16248996555805206f), TS.Create(0.36782291531562805f)));
        var e = TS.Exp(TS.Sub(TS.Create(0), hi));
        return TS.Mul(TS.Fma(TS.Sub(TS.Create(0), lo), e, e), p);
    }
}
