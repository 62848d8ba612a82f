using System.Runtime.CompilerServices;

namespace Sparkle.Tensors.Cpu.Elementwise;

/// <summary>
/// Vectorised tanh and sigmoid for float and double, written once over <see cref="ISimdOps{T, TV}"/>.
/// exp itself is the runtime's Vector256/Vector512.Exp.
/// </summary>
internal static class VectorMath
{
    /// <summary>1 / (1 + exp(-x)). Saturates cleanly: exp overflow gives 0, underflow gives 1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV Sigmoid<T, TV, TS>(TV x) where T : unmanaged where TV : struct where TS : ISimdOps<T, TV>
    {
        var one = TS.Create(1);
        return TS.Div(one, TS.Add(one, TS.Exp(TS.Sub(TS.Create(0), x))));
    }

    /// <summary>tanh x = sign(x) * -z / (z + 2) with z = expm1(-2|x|): no cancellation near 0, exact ±1 far out.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV Tanh<T, TV, TS>(TV x) where T : unmanaged where TV : struct where TS : ISimdOps<T, TV>
    {
        var y = TS.Mul(TS.Create(-2), TS.Abs(x));
        var z = ExpM1NonPositive<T, TV, TS>(y);
        var t = TS.Div(TS.Sub(TS.Create(0), z), TS.Add(z, TS.Create(2)));
        return TS.CopySign(t, x);
    }

    /// <summary>exp(y) - 1 for y &lt;= 0: a Taylor polynomial for |y| &lt; ln 2, exp(y) - 1 below
    /// (exp(y) &lt;= 1/2 there, so the subtraction loses at most one ulp).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV ExpM1NonPositive<T, TV, TS>(TV y) where T : unmanaged where TV : struct where TS : ISimdOps<T, TV>
    {
        var viaExp = TS.Sub(TS.Exp(y), TS.Create(1));
        // expm1(y) = y + y^2 * q(y), q = 1/2! + y/3! + y^2/4! + ...; truncation error relative to y at |y| = ln 2:
        // float after y^10 (1.1e-8), double after y^16 (8e-18).
        TV q;
        if (typeof(T) == typeof(float))
        {
            q = TS.Create(1.0 / 3628800);
            q = TS.Fma(q, y, TS.Create(1.0 / 362880));
            q = TS.Fma(q, y, TS.Create(1.0 / 40320));
            q = TS.Fma(q, y, TS.Create(1.0 / 5040));
            q = TS.Fma(q, y, TS.Create(1.0 / 720));
            q = TS.Fma(q, y, TS.Create(1.0 / 120));
            q = TS.Fma(q, y, TS.Create(1.0 / 24));
            q = TS.Fma(q, y, TS.Create(1.0 / 6));
            q = TS.Fma(q, y, TS.Create(0.5));
        }
        else
        {
            q = TS.Create(1.0 / 20922789888000);
            q = TS.Fma(q, y, TS.Create(1.0 / 1307674368000));
            q = TS.Fma(q, y, TS.Create(1.0 / 87178291200));
            q = TS.Fma(q, y, TS.Create(1.0 / 6227020800));
            q = TS.Fma(q, y, TS.Create(1.0 / 479001600));
            q = TS.Fma(q, y, TS.Create(1.0 / 39916800));
            q = TS.Fma(q, y, TS.Create(1.0 / 3628800));
            q = TS.Fma(q, y, TS.Create(1.0 / 362880));
            q = TS.Fma(q, y, TS.Create(1.0 / 40320));
            q = TS.Fma(q, y, TS.Create(1.0 / 5040));
            q = TS.Fma(q, y, TS.Create(1.0 / 720));
            q = TS.Fma(q, y, TS.Create(1.0 / 120));
            q = TS.Fma(q, y, TS.Create(1.0 / 24));
            q = TS.Fma(q, y, TS.Create(1.0 / 6));
            q = TS.Fma(q, y, TS.Create(0.5));
        }
        var series = TS.Fma(TS.Mul(y, y), q, y);
        return TS.Select(TS.LessThan(y, TS.Create(-0.69314718055994531)), viaExp, series);
    }
}
