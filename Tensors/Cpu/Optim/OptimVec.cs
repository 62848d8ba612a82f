using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Sparkle.Tensors.Cpu.Optim;

/// <summary>
/// The few operations the optimizer updates need, for Vector512, Vector256, Vector128 and a single element, so that each update is
/// written once (<see cref="IOptimBody{T}"/>) and runs as vectors over the bulk and element by element over the tail with
/// the same operations: every lane rounds as the scalar code does (no FMA contraction), so the bits do not depend on the
/// vector width or on where a chunk starts.
/// </summary>
internal interface IOptimVec<T, TV> where T : unmanaged where TV : struct
{
    static abstract int Count { get; }
    static abstract TV Load(T[] a, int i);
    static abstract void Store(TV v, T[] a, int i);
    static abstract TV Splat(T x);
    static abstract TV Add(TV a, TV b);
    static abstract TV Mul(TV a, TV b);
    static abstract TV Div(TV a, TV b);
    static abstract TV Sqrt(TV x);
}

internal readonly struct OptimV512<T> : IOptimVec<T, Vector512<T>> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static int Count => Vector512<T>.Count;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> Load(T[] a, int i) => Vector512.LoadUnsafe(ref Elementwise.ElementData.At(a, i));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector512<T> v, T[] a, int i) => v.StoreUnsafe(ref Elementwise.ElementData.At(a, i));
    public static Vector512<T> Splat(T x) => Vector512.Create(x);
    public static Vector512<T> Add(Vector512<T> a, Vector512<T> b) => a + b;
    public static Vector512<T> Mul(Vector512<T> a, Vector512<T> b) => a * b;
    public static Vector512<T> Div(Vector512<T> a, Vector512<T> b) => a / b;
    public static Vector512<T> Sqrt(Vector512<T> x) => Vector512.Sqrt(x);
}

internal readonly struct OptimV256<T> : IOptimVec<T, Vector256<T>> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static int Count => Vector256<T>.Count;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> Load(T[] a, int i) => Vector256.LoadUnsafe(ref Elementwise.ElementData.At(a, i));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector256<T> v, T[] a, int i) => v.StoreUnsafe(ref Elementwise.ElementData.At(a, i));
    public static Vector256<T> Splat(T x) => Vector256.Create(x);
    public static Vector256<T> Add(Vector256<T> a, Vector256<T> b) => a + b;
    public static Vector256<T> Mul(Vector256<T> a, Vector256<T> b) => a * b;
    public static Vector256<T> Div(Vector256<T> a, Vector256<T> b) => a / b;
    public static Vector256<T> Sqrt(Vector256<T> x) => Vector256.Sqrt(x);
}

internal readonly struct OptimV128<T> : IOptimVec<T, Vector128<T>> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static int Count => Vector128<T>.Count;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<T> Load(T[] a, int i) => Vector128.LoadUnsafe(ref Elementwise.ElementData.At(a, i));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector128<T> v, T[] a, int i) => v.StoreUnsafe(ref Elementwise.ElementData.At(a, i));
    public static Vector128<T> Splat(T x) => Vector128.Create(x);
    public static Vector128<T> Add(Vector128<T> a, Vector128<T> b) => a + b;
    public static Vector128<T> Mul(Vector128<T> a, Vector128<T> b) => a * b;
    public static Vector128<T> Div(Vector128<T> a, Vector128<T> b) => a / b;
    public static Vector128<T> Sqrt(Vector128<T> x) => Vector128.Sqrt(x);
}

internal readonly struct OptimScalar<T> : IOptimVec<T, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static int Count => 1;
    public static T Load(T[] a, int i) => a[i];
    public static void Store(T v, T[] a, int i) => a[i] = v;
    public static T Splat(T x) => x;
    public static T Add(T a, T b) => a + b;
    public static T Mul(T a, T b) => a * b;
    public static T Div(T a, T b) => a / b;
    public static T Sqrt(T x) => T.Sqrt(x);
}
