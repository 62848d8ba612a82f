using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Sparkle.Tensors.Cpu.Elementwise;

/// <summary>Scalar forms of ops whose vector math differs from the scalar library (exp, tanh, erf, ...):
/// run the Vector128 form (the narrowest, accelerated on every SIMD host) on a broadcast value, so that every element
/// gets the same bits wherever it falls: every width computes a lane the same way.</summary>
internal static class ScalarViaVector
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T Unary<T, TOp>(in TOp op, T x) where T : unmanaged where TOp : struct, IUnaryKernel<T>
        => op.Invoke(Vector128.Create(x)).ToScalar();

    /// <summary>Applies a scalar function to each lane (for ops that are scalar at heart, e.g. float64 erf).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<double> PerLane(Vector128<double> x, Func<double, double> f)
        => Vector128.Create(f(x.GetElement(0)), f(x.GetElement(1)));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<double> PerLane(Vector256<double> x, Func<double, double> f)
        => Vector256.Create(f(x.GetElement(0)), f(x.GetElement(1)), f(x.GetElement(2)), f(x.GetElement(3)));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<double> PerLane(Vector512<double> x, Func<double, double> f)
        => Vector512.Create(PerLane(x.GetLower(), f), PerLane(x.GetUpper(), f));
}
