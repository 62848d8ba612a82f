using System.Numerics;
using System.Runtime.Intrinsics;

namespace Sparkle.Tensors.Cpu.Elementwise;

// Exact ops (one IEEE rounding or none): the scalar form is the vector form lane by lane.

internal readonly struct NegOp<T> : IUnaryKernel<T> where T : unmanaged, INumber<T>
{
    public static bool Vectorizable => true;
    public T Invoke(T x) => -x;
    public Vector256<T> Invoke(Vector256<T> x) => -x;
    public Vector128<T> Invoke(Vector128<T> x) => -x;
    public Vector512<T> Invoke(Vector512<T> x) => -x;
}

internal readonly struct AbsOp<T> : IUnaryKernel<T> where T : unmanaged, INumber<T>
{
    public static bool Vectorizable => true;
    public T Invoke(T x) => T.Abs(x);
    public Vector256<T> Invoke(Vector256<T> x) => Vector256.Abs(x);
    public Vector128<T> Invoke(Vector128<T> x) => Vector128.Abs(x);
    public Vector512<T> Invoke(Vector512<T> x) => Vector512.Abs(x);
}

internal readonly struct SquareOp<T> : IUnaryKernel<T> where T : unmanaged, INumber<T>
{
    public static bool Vectorizable => true;
    public T Invoke(T x) => x * x;
    public Vector256<T> Invoke(Vector256<T> x) => x * x;
    public Vector128<T> Invoke(Vector128<T> x) => x * x;
    public Vector512<T> Invoke(Vector512<T> x) => x * x;
}

/// <summary>x * p (Mul_ by a scalar, Add_ with alpha).</summary>
internal readonly struct ScaleOp<T>(T factor) : IUnaryKernel<T> where T : unmanaged, INumber<T>
{
    private readonly T _factor = factor;
    public static bool Vectorizable => true;
    public T Invoke(T x) => x * _factor;
    public Vector256<T> Invoke(Vector256<T> x) => x * Vector256.Create(_factor);
    public Vector128<T> Invoke(Vector128<T> x) => x * Vector128.Create(_factor);
    public Vector512<T> Invoke(Vector512<T> x) => x * Vector512.Create(_factor);
}

internal readonly struct SqrtOp<T> : IUnaryKernel<T> where T : unmanaged, INumber<T>
{
    public static bool Vectorizable => FloatTypes.IsFloat<T>();
    public T Invoke(T x) => Vectorizable ? ScalarViaVector.Unary<T, SqrtOp<T>>(this, x) : FloatTypes.ViaDouble(x, Math.Sqrt);
    public Vector256<T> Invoke(Vector256<T> x) => Vector256.Sqrt(x);
    public Vector128<T> Invoke(Vector128<T> x) => Vector128.Sqrt(x);
    public Vector512<T> Invoke(Vector512<T> x) => Vector512.Sqrt(x);
}

/// <summary>1 / sqrt(x), exactly rounded twice (not the hardware estimate).</summary>
internal readonly struct RsqrtOp<T> : IUnaryKernel<T> where T : unmanaged, INumber<T>
{
    public static bool Vectorizable => FloatTypes.IsFloat<T>();
    public T Invoke(T x) => Vectorizable ? ScalarViaVector.Unary<T, RsqrtOp<T>>(this, x) : FloatTypes.ViaDouble(x, v => 1 / Math.Sqrt(v));
    public Vector256<T> Invoke(Vector256<T> x) => Vector256<T>.One / Vector256.Sqrt(x);
    public Vector128<T> Invoke(Vector128<T> x) => Vector128<T>.One / Vector128.Sqrt(x);
    public Vector512<T> Invoke(Vector512<T> x) => Vector512<T>.One / Vector512.Sqrt(x);
}

internal readonly struct ReciprocalOp<T> : IUnaryKernel<T> where T : unmanaged, INumber<T>
{
    public static bool Vectorizable => FloatTypes.IsFloat<T>();
    public T Invoke(T x) => Vectorizable ? T.One / x : FloatTypes.ViaDouble(x, v => 1 / v);
    public Vector256<T> Invoke(Vector256<T> x) => Vector256<T>.One / x;
    public Vector128<T> Invoke(Vector128<T> x) => Vector128<T>.One / x;
    public Vector512<T> Invoke(Vector512<T> x) => Vector512<T>.One / x;
}

/// <summary>Logical not of bool stored as byte 0/1.</summary>
internal readonly struct NotOp : IUnaryKernel<byte>
{
    public static bool Vectorizable => true;
    public byte Invoke(byte x) => (byte)(x ^ 1);
    public Vector256<byte> Invoke(Vector256<byte> x) => x ^ Vector256<byte>.One;
    public Vector128<byte> Invoke(Vector128<byte> x) => x ^ Vector128<byte>.One;
    public Vector512<byte> Invoke(Vector512<byte> x) => x ^ Vector512<byte>.One;
}
