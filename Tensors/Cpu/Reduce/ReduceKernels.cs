using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Sparkle.Tensors.Cpu.Reduce;

/// <summary>
/// A reduction as (identity, combine) plus an element map applied before combining; the map gets the
/// output's centre (the mean, for the second pass of var) and is the identity for the other ops.
/// </summary>
internal interface IReduceKernel<T> where T : unmanaged
{
    static abstract T Identity { get; }
    static abstract bool UsesCenter { get; }
    static abstract T Combine(T acc, T x);
    static abstract Vector256<T> Combine(Vector256<T> acc, Vector256<T> x);
    static abstract Vector512<T> Combine(Vector512<T> acc, Vector512<T> x);
    static abstract Vector128<T> Combine(Vector128<T> acc, Vector128<T> x);
    static abstract T Map(T x, T center);
    static abstract Vector256<T> Map(Vector256<T> x, Vector256<T> center);
    static abstract Vector512<T> Map(Vector512<T> x, Vector512<T> center);
    static abstract Vector128<T> Map(Vector128<T> x, Vector128<T> center);
}

internal readonly struct SumKernel<T> : IReduceKernel<T> where T : unmanaged, INumber<T>
{
    public static T Identity => T.Zero;
    public static bool UsesCenter => false;
    public static T Combine(T acc, T x) => acc + x;
    public static Vector256<T> Combine(Vector256<T> acc, Vector256<T> x) => acc + x;
    public static Vector512<T> Combine(Vector512<T> acc, Vector512<T> x) => acc + x;
    public static Vector128<T> Combine(Vector128<T> acc, Vector128<T> x) => acc + x;
    public static T Map(T x, T center) => x;
    public static Vector256<T> Map(Vector256<T> x, Vector256<T> center) => x;
    public static Vector512<T> Map(Vector512<T> x, Vector512<T> center) => x;
    public static Vector128<T> Map(Vector128<T> x, Vector128<T> center) => x;
}

/// <summary>Sum of squared deviations from the centre: the second pass of the two-pass variance.</summary>
internal readonly struct SquaredDeviationKernel<T> : IReduceKernel<T> where T : unmanaged, INumber<T>
{
    public static T Identity => T.Zero;
    public static bool UsesCenter => true;
    public static T Combine(T acc, T x) => acc + x;
    public static Vector256<T> Combine(Vector256<T> acc, Vector256<T> x) => acc + x;
    public static Vector512<T> Combine(Vector512<T> acc, Vector512<T> x) => acc + x;
    public static Vector128<T> Combine(Vector128<T> acc, Vector128<T> x) => acc + x;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T Map(T x, T center) { T d = x - center; return d * d; }
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> Map(Vector256<T> x, Vector256<T> center) { var d = x - center; return d * d; }
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> Map(Vector512<T> x, Vector512<T> center) { var d = x - center; return d * d; }
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<T> Map(Vector128<T> x, Vector128<T> center) { var d = x - center; return d * d; }
}

/// <summary>Maximum; NaN propagates (IEEE 754-2019 maximum), like torch.amax.</summary>
internal readonly struct MaxKernel<T> : IReduceKernel<T> where T : unmanaged, INumber<T>, IMinMaxValue<T>
{
    public static T Identity => typeof(T) == typeof(float) ? (T)(object)float.NegativeInfinity
        : typeof(T) == typeof(double) ? (T)(object)double.NegativeInfinity : T.MinValue;
    public static bool UsesCenter => false;
    public static T Combine(T acc, T x) => T.Max(acc, x);
    public static Vector256<T> Combine(Vector256<T> acc, Vector256<T> x) => Vector256.Max(acc, x);
    public static Vector512<T> Combine(Vector512<T> acc, Vector512<T> x) => Vector512.Max(acc, x);
    public static Vector128<T> Combine(Vector128<T> acc, Vector128<T> x) => Vector128.Max(acc, x);
    public static T Map(T x, T center) => x;
    public static Vector256<T> Map(Vector256<T> x, Vector256<T> center) => x;
    public static Vector512<T> Map(Vector512<T> x, Vector512<T> center) => x;
    public static Vector128<T> Map(Vector128<T> x, Vector128<T> center) => x;
}

internal readonly struct MinKernel<T> : IReduceKernel<T> where T : unmanaged, INumber<T>, IMinMaxValue<T>
{
    public static T Identity => typeof(T) == typeof(float) ? (T)(object)float.PositiveInfinity
        : typeof(T) == typeof(double) ? (T)(object)double.PositiveInfinity : T.MaxValue;
    public static bool UsesCenter => false;
    public static T Combine(T acc, T x) => T.Min(acc, x);
    public static Vector256<T> Combine(Vector256<T> acc, Vector256<T> x) => Vector256.Min(acc, x);
    public static Vector512<T> Combine(Vector512<T> acc, Vector512<T> x) => Vector512.Min(acc, x);
    public static Vector128<T> Combine(Vector128<T> acc, Vector128<T> x) => Vector128.Min(acc, x);
    public static T Map(T x, T center) => x;
    public static Vector256<T> Map(Vector256<T> x, Vector256<T> center) => x;
    public static Vector512<T> Map(Vector512<T> x, Vector512<T> center) => x;
    public static Vector128<T> Map(Vector128<T> x, Vector128<T> center) => x;
}
