using ILGPU.Algorithms;

namespace Sparkle.Gpu.Kernels;

/// <summary>Integer powers shared by the int elements: exact repeated squaring with wrap-around for e &gt;= 0
/// (PowMath.IntPow on the CPU); negative exponents give 1, ±1 or 0 as in integer arithmetic.</summary>
internal static class IntPow
{
    public static long Pow(long x, long e)
    {
        if (e < 0) return x == 1 ? 1 : x == -1 ? ((e & 1) == 0 ? 1 : -1) : 0;
        long r = 1;
        while (e > 0)
        {
            if ((e & 1) != 0) r *= x;
            x *= x;
            e >>= 1;
        }
        return r;
    }

    /// <summary>True when p is a whole number the integer path handles (CPU: p &gt;= 0, integral, &lt;= long.MaxValue).</summary>
    public static bool IsIntegral(double p) => p >= 0 && p == XMath.Floor(p) && p <= 9.2233720368547758E+18;
}

public readonly struct I32 : IElement<int>
{
    public double ToDouble(int x) => x;
    public int FromDouble(double v) => (int)v;
    public long ToLong(int x) => x;
    public int FromLong(long v) => (int)v;
    public int Add(int a, int b) => a + b;
    public int Sub(int a, int b) => a - b;
    public int Mul(int a, int b) => a * b;
    public int Div(int a, int b) => b == 0 ? 0 : a / b;
    public int Maximum(int a, int b) => a > b ? a : b;
    public int Minimum(int a, int b) => a < b ? a : b;
    public int Neg(int x) => -x;
    public int Abs(int x) => x < 0 ? -x : x;
    public bool Eq(int a, int b) => a == b;
    public bool Lt(int a, int b) => a < b;
    public bool Le(int a, int b) => a <= b;
    public bool IsFinite(int x) => true;
    public int PowScalar(int x, double p) => IntPow.IsIntegral(p) ? (int)IntPow.Pow(x, (long)p) : (int)XMath.Pow((double)x, p);
    public int Pow(int a, int b) => (int)IntPow.Pow(a, b);
    public int Transcendental(int op, int x) => x;
}

public readonly struct I64 : IElement<long>
{
    public double ToDouble(long x) => x;
    public long FromDouble(double v) => (long)v;
    public long ToLong(long x) => x;
    public long FromLong(long v) => v;
    public long Add(long a, long b) => a + b;
    public long Sub(long a, long b) => a - b;
    public long Mul(long a, long b) => a * b;
    public long Div(long a, long b) => b == 0 ? 0 : a / b;
    public long Maximum(long a, long b) => a > b ? a : b;
    public long Minimum(long a, long b) => a < b ? a : b;
    public long Neg(long x) => -x;
    public long Abs(long x) => x < 0 ? -x : x;
    public bool Eq(long a, long b) => a == b;
    public bool Lt(long a, long b) => a < b;
    public bool Le(long a, long b) => a <= b;
    public bool IsFinite(long x) => true;
    public long PowScalar(long x, double p) => IntPow.IsIntegral(p) ? IntPow.Pow(x, (long)p) : (long)XMath.Pow((double)x, p);
    public long Pow(long a, long b) => IntPow.Pow(a, b);
    public long Transcendental(int op, long x) => x;
}

/// <summary>bool on the device: one byte, 0 or 1 (the host bool layout, so transfers are plain byte copies).</summary>
public readonly struct Bool8 : IElement<byte>
{
    // Written with double literals: ILGPU 1.5.3 turns `x != 0 ? 1 : 0` (int constants converted to double) into a
    // select of the raw bit patterns 0d...01 / 0d...00 on PTX (a denormal, 0 as float): bool -> float gave 0 on CUDA
    // while the CPU simulator, which runs the .NET code, gave 1. PtxCompileTests guards against the pattern.
    public double ToDouble(byte x) => x != 0 ? 1.0 : 0.0;
    public byte FromDouble(double v) => v != 0 ? (byte)1 : (byte)0;
    public long ToLong(byte x) => x != 0 ? 1 : 0;
    public byte FromLong(long v) => v != 0 ? (byte)1 : (byte)0;
    public byte Add(byte a, byte b) => (byte)(a | b);
    public byte Sub(byte a, byte b) => (byte)(a ^ b);
    public byte Mul(byte a, byte b) => (byte)(a & b);
    public byte Div(byte a, byte b) => a;
    public byte Maximum(byte a, byte b) => a > b ? a : b;
    public byte Minimum(byte a, byte b) => a < b ? a : b;
    public byte Neg(byte x) => x;
    public byte Abs(byte x) => x;
    public bool Eq(byte a, byte b) => a == b;
    public bool Lt(byte a, byte b) => a < b;
    public bool Le(byte a, byte b) => a <= b;
    public bool IsFinite(byte x) => true;
    public byte PowScalar(byte x, double p) => x;
    public byte Pow(byte a, byte b) => a;
    public byte Transcendental(int op, byte x) => x;
}
