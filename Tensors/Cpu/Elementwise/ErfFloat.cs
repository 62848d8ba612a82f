using System.Runtime.CompilerServices;

namespace Sparkle.Tensors.Cpu.Elementwise;

/// <summary>
/// Vectorised float32 erf and exact GELU, accurate to about one float32 ulp.
/// |x| &lt; 1: erf x = x * P(x^2), P of degree 5. |x| &gt;= 1: erfc x = exp(-x^2) * R(1/x), R of degree 8 on
/// two pieces (x in [1,2] and [2,10]; coefficients chosen per lane with selects, no branches).
/// The polynomials interpolate the exact functions at Chebyshev nodes (see erf_coefficients.py);
/// their error after rounding the coefficients to float32 is below 7e-8 relative.
/// GELU uses erfc directly for x &lt; 0, so 1 + erf(x/sqrt2) does not cancel there.
/// </summary>
internal static class ErfFloat
{
    private const double InvSqrt2 = 0.70710678118654752440;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV Erf<TV, TS>(TV x) where TV : struct where TS : ISimdOps<float, TV>
    {
        var ax = TS.Abs(x);
        var small = TS.Mul(x, SmallPoly<TV, TS>(TS.Mul(x, x)));
        var large = TS.CopySign(TS.Sub(TS.Create(1), Erfc<TV, TS>(ax)), x);
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
        var erfc = Erfc<TV, TS>(av);
        var onePlusLarge = TS.Select(TS.LessThan(v, TS.Create(0)), erfc, TS.Sub(TS.Create(2), erfc));
        var onePlusErf = TS.Select(TS.LessThan(av, one), onePlusSmall, onePlusLarge);
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

    /// <summary>erfc(a) for a &gt;= 1 (other lanes give garbage that callers select away). Beyond a = 10
    /// the result underflows to 0; a is clamped there so that infinities do not turn into NaN.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TV Erfc<TV, TS>(TV a) where TV : struct where TS : ISimdOps<float, TV>
    {
        var ten = TS.Create(10.5);
        a = TS.Select(TS.LessThan(ten, a), ten, a); // NaN stays NaN
        var u = TS.Div(TS.Create(1), a);
        var far = TS.LessThan(TS.Create(2), a);
        var s = TS.Mul(TS.Sub(u, TS.Select(far, TS.Create(0.3f), TS.Create(0.75f))), TS.Select(far, TS.Create(5f), TS.Create(4f)));
        var p = TS.Select(far, TS.Create(-6.948570216991357e-07f), TS.Create(1.249446199835802e-07f));
        p = TS.Fma(p, s, TS.Select(far, TS.Create(3.3631404221523553e-06f), TS.Create(-1.0829620578078902e-06f)));
        p = TS.Fma(p, s, TS.Select(far, TS.Create(-3.68426435670699e-06f), TS.Create(5.892635272175539e-06f)));
        p = TS.Fma(p, s, TS.Select(far, TS.Create(-4.1300900193164125e-05f), TS.Create(-2.167823004128877e-05f)));
        p = TS.Fma(p, s, TS.Select(far, TS.Create(0.0002938013931270689f), TS.Create(9.544045497023035e-06f)));
        p = TS.Fma(p, s, TS.Select(far, TS.Create(-0.0005853004404343665f), TS.Create(0.0007744964095763862f)));
        p = TS.Fma(p, s, TS.Select(far, TS.Create(-0.007011048961430788f), TS.Create(-0.009660629555583f)));
        p = TS.Fma(p, s, TS.Select(far, TS.Create(0.10025057941675186f), TS.Create(0.08534221351146698f)));
        p = TS.Fma(p, s, TS.Select(far, TS.Create(0.16248996555805206f), TS.Create(0.35113468766212463f)));
        return TS.Mul(VectorMath.ExpNegSquare<float, TV, TS>(a), p);
    }
}
