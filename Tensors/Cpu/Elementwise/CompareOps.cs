using System.Numerics;
using System.Runtime.Intrinsics;

namespace Sparkle.Tensors.Cpu.Elementwise;

// Comparisons are exact, so scalar and vector forms agree. NaN compares false except for Ne.

internal readonly struct EqOp<T> : ICompareKernel<T> where T : unmanaged, INumber<T>
{
    public bool Invoke(T a, T b) => a == b;
    public Vector256<T> Invoke(Vector256<T> a, Vector256<T> b) => Vector256.Equals(a, b);
    public Vector128<T> Invoke(Vector128<T> a, Vector128<T> b) => Vector128.Equals(a, b);
    public Vector512<T> Invoke(Vector512<T> a, Vector512<T> b) => Vector512.Equals(a, b);
}

internal readonly struct NeOp<T> : ICompareKernel<T> where T : unmanaged, INumber<T>
{
    public bool Invoke(T a, T b) => a != b;
    public Vector256<T> Invoke(Vector256<T> a, Vector256<T> b) => ~Vector256.Equals(a, b);
    public Vector128<T> Invoke(Vector128<T> a, Vector128<T> b) => ~Vector128.Equals(a, b);
    public Vector512<T> Invoke(Vector512<T> a, Vector512<T> b) => ~Vector512.Equals(a, b);
}

internal readonly struct LtOp<T> : ICompareKernel<T> where T : unmanaged, INumber<T>
{
    public bool Invoke(T a, T b) => a < b;
    public Vector256<T> Invoke(Vector256<T> a, Vector256<T> b) => Vector256.LessThan(a, b);
    public Vector128<T> Invoke(Vector128<T> a, Vector128<T> b) => Vector128.LessThan(a, b);
    public Vector512<T> Invoke(Vector512<T> a, Vector512<T> b) => Vector512.LessThan(a, b);
}

internal readonly struct LeOp<T> : ICompareKernel<T> where T : unmanaged, INumber<T>
{
    public bool Invoke(T a, T b) => a <= b;
    public Vector256<T> Invoke(Vector256<T> a, Vector256<T> b) => Vector256.LessThanOrEqual(a, b);
    public Vector128<T> Invoke(Vector128<T> a, Vector128<T> b) => Vector128.LessThanOrEqual(a, b);
    public Vector512<T> Invoke(Vector512<T> a, Vector512<T> b) => Vector512.LessThanOrEqual(a, b);
}

internal readonly struct GtOp<T> : ICompareKernel<T> where T : unmanaged, INumber<T>
{
    public bool Invoke(T a, T b) => a > b;
    public Vector256<T> Invoke(Vector256<T> a, Vector256<T> b) => Vector256.GreaterThan(a, b);
    public Vector128<T> Invoke(Vector128<T> a, Vector128<T> b) => Vector128.GreaterThan(a, b);
    public Vector512<T> Invoke(Vector512<T> a, Vector512<T> b) => Vector512.GreaterThan(a, b);
}

internal readonly struct GeOp<T> : ICompareKernel<T> where T : unmanaged, INumber<T>
{
    public bool Invoke(T a, T b) => a >= b;
    public Vector256<T> Invoke(Vector256<T> a, Vector256<T> b) => Vector256.GreaterThanOrEqual(a, b);
    public Vector128<T> Invoke(Vector128<T> a, Vector128<T> b) => Vector128.GreaterThanOrEqual(a, b);
    public Vector512<T> Invoke(Vector512<T> a, Vector512<T> b) => Vector512.GreaterThanOrEqual(a, b);
}

/// <summary>True where x is neither NaN nor infinite (float types; integers are always finite).</summary>
internal readonly struct IsFiniteOp<T> : IPredicateKernel<T> where T : unmanaged, INumber<T>
{
    public bool Invoke(T x) => T.IsFinite(x);
    public Vector256<T> Invoke(Vector256<T> x) => Vector256.IsFinite(x);
    public Vector128<T> Invoke(Vector128<T> x) => Vector128.IsFinite(x);
    public Vector512<T> Invoke(Vector512<T> x) => Vector512.IsFinite(x);
}
