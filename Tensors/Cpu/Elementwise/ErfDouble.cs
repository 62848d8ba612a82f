namespace Sparkle.Tensors.Cpu.Elementwise;

/// <summary>
/// Scalar float64 erf and exact GELU (the vector forms of the double ops call this per lane; float64 is for
/// gradient checks, not for speed). |x| &lt; 1: erf x = x * P(x^2), P of degree 12. Beyond:
/// erfc x = exp(-x^2) * R(v) on pieces from x = 0.5 (GELU uses erfc from there for negative x) up to x = 28
/// (beyond, erfc underflows), with v = x up to 2.25 and v = 1/x after. The polynomials interpolate the exact functions at Chebyshev nodes (see
/// erf_coefficients.py); after rounding the coefficients their relative error is below 1e-16
/// (2.8e-16 on the last piece, which only GELU of x &lt; -9 reaches).
/// </summary>
internal static class ErfDouble
{
    private const double InvSqrt2 = 0.70710678118654752440;

    public static double Erf(double x)
    {
        double ax = Math.Abs(x);
        if (ax < 1) return x * Horner(SmallCoefficients, x * x);
        if (double.IsNaN(x)) return x;
        if (ax >= 6) return Math.CopySign(1.0, x);
        return Math.CopySign(1 - ErfcLarge(ax), x);
    }

    /// <summary>x * 0.5 * (1 + erf(x / sqrt 2)); for x &lt; 0 the bracket is erfc(|x| / sqrt 2), computed directly.</summary>
    public static double Gelu(double x)
    {
        double v = x * InvSqrt2, av = Math.Abs(v);
        if (av < 1 && v >= -0.5) return x * 0.5 * (1 + v * Horner(SmallCoefficients, v * v));
        if (double.IsNaN(x)) return x;
        // exp(-v^2) from x^2 / 2 (exact halving), not from the rounded v: keeps erfc's relative accuracy far out
        double sq = x * x;
        double erfc = ErfcLarge(av, sq * 0.5, Math.FusedMultiplyAdd(x, x, -sq) * 0.5);
        return x * 0.5 * (v < 0 ? erfc : 2 - erfc);
    }

    /// <summary>erfc(a) for a &gt;= 0.5.</summary>
    public static double ErfcLarge(double a)
    {
        double hi = a * a;
        return ErfcLarge(a, hi, Math.FusedMultiplyAdd(a, a, -hi));
    }

    /// <summary>erfc(a) for a &gt;= 0.5 given a^2 = hi + lo (the exponential's argument split for accuracy).</summary>
    private static double ErfcLarge(double a, double hi, double lo)
    {
        if (a >= 27.5) return 0; // exp(-a^2) underflows
        int k = a < 1 ? 0 : a < 1.5 ? 1 : a < 2.25 ? 2 : a < 3.25 ? 3 : a < 4.5 ? 4 : a < 6.5 ? 5 : 6;
        var piece = Pieces[k];
        double v = k < 3 ? a : 1 / a;
        double r = Horner(piece.Coefficients, (v - piece.Center) * piece.InvHalfWidth);
        double e = Math.Exp(-hi);
        return Math.FusedMultiplyAdd(-lo, e, e) * r;
    }

    private static double Horner(ReadOnlySpan<double> c, double s)
    {
        double p = c[^1];
        for (int i = c.Length - 2; i >= 0; i--) p = Math.FusedMultiplyAdd(p, s, c[i]);
        return p;
    }

    private sealed record Piece(double Center, double InvHalfWidth, double[] Coefficients);

    /// <summary>erf(x)/x in powers of x^2 on [0, 1].</summary>
    private static ReadOnlySpan<double> SmallCoefficients =>
    [
        1.1283791670955126, -0.3761263890318375, 0.11283791670954879, -0.026866170645076792, 0.0052239776248180145,
        -0.000854832698083379, 0.0001205533111164271, -1.4925595266831182e-05, 1.6461000484121368e-06,
        -1.6350312701054695e-07, 1.4659775274047436e-08, -1.1372848856791674e-09, 5.957176147748911e-11,
    ];

    /// <summary>erfcx(x) = exp(x^2) erfc(x) in powers of s = (v - Center) * InvHalfWidth, s in [-1, 1].</summary>
    private static readonly Piece[] Pieces =
    [
        // x in [0.5, 1], v = x (GELU only)
        new(0.75, 4.0,
        [
            0.5069376502931449, -0.09199317291394885, 0.014434883221956143, -0.0020286884686699707, 0.00026090055674831184,
            -3.114966996112664e-05, 3.488573893088815e-06, -3.6935621693335953e-07, 3.719539411742085e-08, -3.5801452026870127e-09,
            3.306876440008758e-10, -2.940238691685661e-11, 2.5250183778041673e-12, -2.149720777127483e-13, 1.7310702436308993e-14,
        ]),
        // x in [1, 1.5], v = x
        new(1.25, 4.0,
        [
            0.3678229164523611, -0.052205468991152464, 0.006674723218537425, -0.0007846605374360513, 8.59818916049105e-05,
            -8.868776985335646e-06, 8.674584724715513e-07, -8.09193680379736e-08, 7.2322129704622744e-09, -6.216436609441057e-10,
            5.155000754283207e-11, -4.134420035522128e-12, 3.2155533208719445e-13, -2.4784602278133916e-14, 1.8206350061204926e-15,
        ]),
        // x in [1.5, 2.25], v = x
        new(1.875, 2.6666666666666665,
        [
            0.2694299851646704, -0.044256271022999394, 0.006770901100735335, -0.0009751655174363657, 0.00013324735642166878,
            -1.7377241363708435e-05, 2.1731788881411804e-06, -2.616166102600156e-07, 3.041352357788939e-08, -3.4234235774793528e-09,
            3.739655279372688e-10, -3.969961738078964e-11, 4.1076636993821514e-12, -4.298907054638645e-13, 4.2320080892378926e-14,
        ]),
        // x in [2.25, 3.25], v = 1/x
        new(0.37606837606837606, 14.625,
        [
            0.19957884565344078, 0.03238413936023643, -0.0008704521228120914, -7.990266950800044e-06, 2.9064121020819478e-06,
            -1.9463709706926483e-07, 3.732818316289625e-09, 6.891157919254516e-10, -9.685676797263311e-11, 6.521150010709486e-12,
            -9.144418329439425e-14, -4.050443321959746e-14, 6.013936349316776e-15,
        ]),
        // x in [3.25, 4.5], v = 1/x
        new(0.26495726495726496, 23.4,
        [
            0.14471288235149762, 0.021933125110960038, -0.0003034881534596729, -7.83747990606852e-06, 6.829555704507501e-07,
            -1.5645970406678478e-08, -7.998592135433314e-10, 9.149059489732278e-11, -3.4374315498883483e-12, -8.26700227847557e-14,
            1.9870527815414315e-14, -1.2577840316570757e-15, 1.7704404497613053e-17,
        ]),
        // x in [4.5, 6.5], v = 1/x
        new(0.18803418803418803, 29.25,
        [
            0.10430309559230531, 0.01834629037479884, -0.0001581707935294146, -6.723352027192529e-06, 3.129588859579318e-07,
            3.806228913849377e-11, -5.686255861677138e-10, 2.3724725032796448e-11, 3.2796817579687737e-13, -8.532094635434822e-14,
            3.789912992384513e-15, 6.959630502596888e-17, -1.859839553286356e-17,
        ]),
        // x in [6.5, 28], v = 1/x
        new(0.09478021978021978, 16.930232558139537,
        [
            0.05323699244877007, 0.03288512069065593, -0.00026783228601886627, -5.087036118292016e-05, 2.0963171601862428e-06,
            1.8427707921411563e-07, -2.0666864983256418e-08, -5.289743418907049e-10, 2.2376558067920178e-10, -7.499679605996666e-12,
            -2.271102379953839e-12, 2.6719625500538486e-13, 1.3337645860531578e-14, -5.234905318888769e-15, 2.189162996778687e-16,
        ]),
    ];
}
