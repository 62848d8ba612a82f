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

    /// <summary>exp(y) - 1 for y &lt;= 0: a Taylor polynomial for |y| &lt; ln2/2, exp(y) - 1 below
    /// (exp(y) &lt;= 0.71 there, so the subtraction loses nothing).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV ExpM1NonPositive<T, TV, TS>(TV y) where T : unmanaged where TV : struct where TS : ISimdOps<T, TV>
    {
        var viaExp = TS.Sub(TS.Exp(y), TS.Create(1));
        // expm1(y) = y + y^2 * q(y), q = 1/2! + y/3! + y^2/4! + ...
        // Truncation at |y| = ln2/2 (relative): float after y^8 (6e-10), double after y^13 (1.2e-17).
        TV q;
        if (typeof(T) == typeof(float))
        {
            q = TS.Create(1.0 / 40320);
            q = TS.Fma(q, y, TS.Create(1.0 / 5040));
            q = TS.Fma(q, y, TS.Create(1.0 / 720));
            q = TS.Fma(q, y, TS.Create(1.0 / 120));
            q = TS.Fma(q, y, TS.Create(1.0 / 24));
            q = TS.Fma(q, y, TS.Create(1.0 / 6));
            q = TS.Fma(q, y, TS.Create(0.5));
        }
        else
        {
            q = TS.Create(1.0 / 6227020800);
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
        return TS.Select(TS.LessThan(y, TS.Create(-0.34657359027997264)), viaExp, series);
    }

    /// <summary>exp(-a^2) with the rounding error of a^2 compensated (a^2 = hi + lo exactly via FMA),
    /// so erfc keeps its relative accuracy far out.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV ExpNegSquare<T, TV, TS>(TV a) where T : unmanaged where TV : struct where TS : ISimdOps<T, TV>
    {
        var hi = TS.Mul(a, a);
        var lo = TS.Fma(a, a, TS.Sub(TS.Create(0), hi));
        var e = TS.Exp(TS.Sub(TS.Create(0), hi));
        return TS.Fma(TS.Sub(TS.Create(0), lo), e, e);
    }
}
