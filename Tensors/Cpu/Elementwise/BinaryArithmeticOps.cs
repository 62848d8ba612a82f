using System.Numerics;
using System.Runtime.Intrinsics;

namespace Sparkle.Tensors.Cpu.Elementwise;

internal readonly struct AddOp<T> : IBinaryKernel<T> where T : unmanaged, INumber<T>
{
    public static bool Vectorizable => true;
    public T Invoke(T a, T b) => a + b;
    public Vector256<T> Invoke(Vector256<T> a, Vector256<T> b) => a + b;
    public Vector128<T> Invoke(Vector128<T> a, Vector128<T> b) => a + b;
    public Vector512<T> Invoke(Vector512<T> a, Vector512<T> b) => a + b;
}

internal readonly struct SubOp<T> : IBinaryKernel<T> where T : unmanaged, INumber<T>
{
    public static bool Vectorizable => true;
    public T Invoke(T a, T b) => a - b;
    public Vector256<T> Invoke(Vector256<T> a, Vector256<T> b) => a - b;
    public Vector128<T> Invoke(Vector128<T> a, Vector128<T> b) => a - b;
    public Vector512<T> Invoke(Vector512<T> a, Vector512<T> b) => a - b;
}

internal readonly struct MulOp<T> : IBinaryKernel<T> where T : unmanaged, INumber<T>
{
    public static bool Vectorizable => true;
    public T Invoke(T a, T b) => a * b;
    public Vector256<T> Invoke(Vector256<T> a, Vector256<T> b) => a * b;
    public Vector128<T> Invoke(Vector128<T> a, Vector128<T> b) => a * b;
    public Vector512<T> Invoke(Vector512<T> a, Vector512<T> b) => a * b;
}

/// <summary>a / b. Integer division truncates (the public API divides integers in float32, like torch).</summary>
internal readonly struct DivOp<T> : IBinaryKernel<T> where T : unmanaged, INumber<T>
{
    public static bool Vectorizable => FloatTypes.IsFloat<T>();
    public T Invoke(T a, T b) => a / b;
    public Vector256<T> Invoke(Vector256<T> a, Vector256<T> b) => a / b;
    public Vector128<T> Invoke(Vector128<T> a, Vector128<T> b) => a / b;
    public Vector512<T> Invoke(Vector512<T> a, Vector512<T> b) => a / b;
}

/// <summary>IEEE 754-2019 maximum: NaN propagates, +0 &gt; -0 (torch.maximum).</summary>
internal readonly struct MaxOp<T> : IBinaryKernel<T> where T : unmanaged, INumber<T>
{
    public static bool Vectorizable => true;
    public T Invoke(T a, T b) => T.Max(a, b);
    public Vector256<T> Invoke(Vector256<T> a, Vector256<T> b) => Vector256.Max(a, b);
    public Vector128<T> Invoke(Vector128<T> a, Vector128<T> b) => Vector128.Max(a, b);
    public Vector512<T> Invoke(Vector512<T> a, Vector512<T> b) => Vector512.Max(a, b);
}

internal readonly struct MinOp<T> : IBinaryKernel<T> where T : unmanaged, INumber<T>
{
    public static bool Vectorizable => true;
    public T Invoke(T a, T b) => T.Min(a, b);
    public Vector256<T> Invoke(Vector256<T> a, Vector256<T> b) => Vector256.Min(a, b);
    public Vector128<T> Invoke(Vector128<T> a, Vector128<T> b) => Vector128.Min(a, b);
    public Vector512<T> Invoke(Vector512<T> a, Vector512<T> b) => Vector512.Min(a, b);
}

/// <summary>a ^ b, scalar (Math.Pow in float64; exact repeated squaring for integers with b &gt;= 0,
/// 0 for |a| &gt; 1 with b &lt; 0, as in integer arithmetic).</summary>
internal readonly struct PowOp<T> : IBinaryKernel<T> where T : unmanaged, INumber<T>
{
    public static bool Vectorizable => false;
    public T Invoke(T a, T b)
    {
        if (FloatTypes.IsFloat<T>() || b >= T.Zero) return PowMath.Pow(a, CpuBackend.ToDouble(b));
        if (a == T.One) return T.One;
        if (a == -T.One) return T.IsEvenInteger(b) ? T.One : -T.One;
        return T.Zero;
    }
    public Vector256<T> Invoke(Vector256<T> a, Vector256<T> b) => throw new NotSupportedException();
    public Vector128<T> Invoke(Vector128<T> a, Vector128<T> b) => throw new NotSupportedException();
    public Vector512<T> Invoke(Vector512<T> a, Vector512<T> b) => throw new NotSupportedException();
}

/// <summary>Logical and of bools stored as bytes 0/1.</summary>
internal readonly struct AndOp : IBinaryKernel<byte>
{
    public static bool Vectorizable => true;
    public byte Invoke(byte a, byte b) => (byte)(a & b);
    public Vector256<byte> Invoke(Vector256<byte> a, Vector256<byte> b) => a & b;
    public Vector128<byte> Invoke(Vector128<byte> a, Vector128<byte> b) => a & b;
    public Vector512<byte> Invoke(Vector512<byte> a, Vector512<byte> b) => a & b;
}

internal readonly struct OrOp : IBinaryKernel<byte>
{
    public static bool Vectorizable => true;
    public byte Invoke(byte a, byte b) => (byte)(a | b);
    public Vector256<byte> Invoke(Vector256<byte> a, Vector256<byte> b) => a | b;
    public Vector128<byte> Invoke(Vector128<byte> a, Vector128<byte> b) => a | b;
    public Vector512<byte> Invoke(Vector512<byte> a, Vector512<byte> b) => a | b;
}

/// <summary>a where b &gt; 0, else 0 (ReLU backward from the output; a masked NaN gradient gives 0, as a select).</summary>
internal readonly struct ReluBackwardOp<T> : IBinaryKernel<T> where T : unmanaged, INumber<T>
{
    public static bool Vectorizable => true;
    public T Invoke(T a, T b) => b > T.Zero ? a : T.Zero;
    public Vector256<T> Invoke(Vector256<T> a, Vector256<T> b) => Vector256.GreaterThan(b, Vector256<T>.Zero) & a;
    public Vector128<T> Invoke(Vector128<T> a, Vector128<T> b) => Vector128.GreaterThan(b, Vector128<T>.Zero) & a;
    public Vector512<T> Invoke(Vector512<T> a, Vector512<T> b) => Vector512.GreaterThan(b, Vector512<T>.Zero) & a;
}

/// <summary>a where 0 &lt; b &lt; 6, else 0 (ReLU6 backward; NaN in b gives 0).</summary>
internal readonly struct Relu6BackwardOp<T> : IBinaryKernel<T> where T : unmanaged, INumber<T>
{
    private static readonly T Six = T.CreateTruncating(6);

    public static bool Vectorizable => true;
    public T Invoke(T a, T b) => b > T.Zero && b < Six ? a : T.Zero;
    public Vector256<T> Invoke(Vector256<T> a, Vector256<T> b) =>
        Vector256.GreaterThan(b, Vector256<T>.Zero) & Vector256.LessThan(b, Vector256.Create(Six)) & a;
    public Vector128<T> Invoke(Vector128<T> a, Vector128<T> b) =>
        Vector128.GreaterThan(b, Vector128<T>.Zero) & Vector128.LessThan(b, Vector128.Create(Six)) & a;
    public Vector512<T> Invoke(Vector512<T> a, Vector512<T> b) =>
        Vector512.GreaterThan(b, Vector512<T>.Zero) & Vector512.LessThan(b, Vector512.Create(Six)) & a;
}
