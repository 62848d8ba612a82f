using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Sparkle.Tensors.Cpu.Elementwise;

/// <summary>
/// The handful of float/double vector operations the special functions need, so that each of them
/// (tanh, sigmoid, erf, gelu; the depthwise convolutions) is written once and instantiated for Vector128, Vector256 and Vector512
/// (the runtime's own ISimdVector is internal). T is float or double; the JIT folds the type tests.
/// </summary>
internal interface ISimdOps<T, TV> where T : unmanaged where TV : struct
{
    /// <summary>Lanes of TV.</summary>
    static abstract int Count { get; }
    static abstract TV Load(ref T source, nuint offset = 0);
    static abstract void Store(TV value, ref T destination, nuint offset = 0);
    static abstract TV Splat(T value);
    static abstract TV Create(double value);
    static abstract TV Add(TV a, TV b);
    static abstract TV Sub(TV a, TV b);
    static abstract TV Mul(TV a, TV b);
    static abstract TV Div(TV a, TV b);
    /// <summary>a * b + c with one rounding.</summary>
    static abstract TV Fma(TV a, TV b, TV c);
    static abstract TV Abs(TV x);
    static abstract TV CopySign(TV magnitude, TV sign);
    static abstract TV LessThan(TV a, TV b);
    static abstract TV Select(TV mask, TV whenTrue, TV whenFalse);
    static abstract TV Exp(TV x);
}

internal readonly struct Simd256<T> : ISimdOps<T, Vector256<T>> where T : unmanaged
{
    public static int Count => Vector256<T>.Count;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> Load(ref T source, nuint offset = 0) => Vector256.LoadUnsafe(ref source, offset);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector256<T> value, ref T destination, nuint offset = 0) => value.StoreUnsafe(ref destination, offset);
    public static Vector256<T> Splat(T value) => Vector256.Create(value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> Create(double value) => typeof(T) == typeof(float)
        ? Vector256.Create((float)value).As<float, T>()
        : Vector256.Create(value).As<double, T>();
    public static Vector256<T> Add(Vector256<T> a, Vector256<T> b) => a + b;
    public static Vector256<T> Sub(Vector256<T> a, Vector256<T> b) => a - b;
    public static Vector256<T> Mul(Vector256<T> a, Vector256<T> b) => a * b;
    public static Vector256<T> Div(Vector256<T> a, Vector256<T> b) => a / b;
    public static Vector256<T> Fma(Vector256<T> a, Vector256<T> b, Vector256<T> c) => typeof(T) == typeof(float)
        ? Vector256.FusedMultiplyAdd(a.AsSingle(), b.AsSingle(), c.AsSingle()).As<float, T>()
        : Vector256.FusedMultiplyAdd(a.AsDouble(), b.AsDouble(), c.AsDouble()).As<double, T>();
    public static Vector256<T> Abs(Vector256<T> x) => Vector256.Abs(x);
    public static Vector256<T> CopySign(Vector256<T> magnitude, Vector256<T> sign) => Vector256.CopySign(magnitude, sign);
    public static Vector256<T> LessThan(Vector256<T> a, Vector256<T> b) => Vector256.LessThan(a, b);
    public static Vector256<T> Select(Vector256<T> mask, Vector256<T> whenTrue, Vector256<T> whenFalse) => Vector256.ConditionalSelect(mask, whenTrue, whenFalse);
    public static Vector256<T> Exp(Vector256<T> x) => typeof(T) == typeof(float)
        ? Vector256.Exp(x.AsSingle()).As<float, T>()
        : Vector256.Exp(x.AsDouble()).As<double, T>();
}

internal readonly struct Simd128<T> : ISimdOps<T, Vector128<T>> where T : unmanaged
{
    public static int Count => Vector128<T>.Count;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<T> Load(ref T source, nuint offset = 0) => Vector128.LoadUnsafe(ref source, offset);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector128<T> value, ref T destination, nuint offset = 0) => value.StoreUnsafe(ref destination, offset);
    public static Vector128<T> Splat(T value) => Vector128.Create(value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<T> Create(double value) => typeof(T) == typeof(float)
        ? Vector128.Create((float)value).As<float, T>()
        : Vector128.Create(value).As<double, T>();
    public static Vector128<T> Add(Vector128<T> a, Vector128<T> b) => a + b;
    public static Vector128<T> Sub(Vector128<T> a, Vector128<T> b) => a - b;
    public static Vector128<T> Mul(Vector128<T> a, Vector128<T> b) => a * b;
    public static Vector128<T> Div(Vector128<T> a, Vector128<T> b) => a / b;
    public static Vector128<T> Fma(Vector128<T> a, Vector128<T> b, Vector128<T> c) => typeof(T) == typeof(float)
        ? Vector128.FusedMultiplyAdd(a.AsSingle(), b.AsSingle(), c.AsSingle()).As<float, T>()
        : Vector128.FusedMultiplyAdd(a.AsDouble(), b.AsDouble(), c.AsDouble()).As<double, T>();
    public static Vector128<T> Abs(Vector128<T> x) => Vector128.Abs(x);
    public static Vector128<T> CopySign(Vector128<T> magnitude, Vector128<T> sign) => Vector128.CopySign(magnitude, sign);
    public static Vector128<T> LessThan(Vector128<T> a, Vector128<T> b) => Vector128.LessThan(a, b);
    public static Vector128<T> Select(Vector128<T> mask, Vector128<T> whenTrue, Vector128<T> whenFalse) => Vector128.ConditionalSelect(mask, whenTrue, whenFalse);
    public static Vector128<T> Exp(Vector128<T> x) => typeof(T) == typeof(float)
        ? Vector128.Exp(x.AsSingle()).As<float, T>()
        : Vector128.Exp(x.AsDouble()).As<double, T>();
}

internal readonly struct Simd512<T> : ISimdOps<T, Vector512<T>> where T : unmanaged
{
    public static int Count => Vector512<T>.Count;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> Load(ref T source, nuint offset = 0) => Vector512.LoadUnsafe(ref source, offset);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector512<T> value, ref T destination, nuint offset = 0) => value.StoreUnsafe(ref destination, offset);
    public static Vector512<T> Splat(T value) => Vector512.Create(value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> Create(double value) => typeof(T) == typeof(float)
        ? Vector512.Create((float)value).As<float, T>()
        : Vector512.Create(value).As<double, T>();
    public static Vector512<T> Add(Vector512<T> a, Vector512<T> b) => a + b;
    public static Vector512<T> Sub(Vector512<T> a, Vector512<T> b) => a - b;
    public static Vector512<T> Mul(Vector512<T> a, Vector512<T> b) => a * b;
    public static Vector512<T> Div(Vector512<T> a, Vector512<T> b) => a / b;
    public static Vector512<T> Fma(Vector512<T> a, Vector512<T> b, Vector512<T> c) => typeof(T) == typeof(float)
        ? Vector512.FusedMultiplyAdd(a.AsSingle(), b.AsSingle(), c.AsSingle()).As<float, T>()
        : Vector512.FusedMultiplyAdd(a.AsDouble(), b.AsDouble(), c.AsDouble()).As<double, T>();
    public static Vector512<T> Abs(Vector512<T> x) => Vector512.Abs(x);
    public static Vector512<T> CopySign(Vector512<T> magnitude, Vector512<T> sign) => Vector512.CopySign(magnitude, sign);
    public static Vector512<T> LessThan(Vector512<T> a, Vector512<T> b) => Vector512.LessThan(a, b);
    public static Vector512<T> Select(Vector512<T> mask, Vector512<T> whenTrue, Vector512<T> whenFalse) => Vector512.ConditionalSelect(mask, whenTrue, whenFalse);
    public static Vector512<T> Exp(Vector512<T> x) => typeof(T) == typeof(float)
        ? Vector512.Exp(x.AsSingle()).As<float, T>()
        : Vector512.Exp(x.AsDouble()).As<double, T>();
}
