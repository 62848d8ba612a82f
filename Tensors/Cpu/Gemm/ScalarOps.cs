using System.Runtime.CompilerServices;

namespace Sparkle.Tensors.Cpu.Gemm;

/// <summary>Scalar add and fused multiply-add for float/double behind a generic T (the type tests fold
/// away in each instantiation). Edge and tail code uses these so it rounds exactly like the vector lanes.</summary>
internal static class ScalarOps
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T Add<T>(T x, T y)
    {
        if (typeof(T) == typeof(float)) { float r = Unsafe.As<T, float>(ref x) + Unsafe.As<T, float>(ref y); return Unsafe.As<float, T>(ref r); }
        if (typeof(T) == typeof(double)) { double r = Unsafe.As<T, double>(ref x) + Unsafe.As<T, double>(ref y); return Unsafe.As<double, T>(ref r); }
        throw new NotSupportedException(typeof(T).Name);
    }

    /// <summary>x * y + acc with one rounding (hardware FMA where available).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T Fma<T>(T x, T y, T acc)
    {
        if (typeof(T) == typeof(float)) { float r = MathF.FusedMultiplyAdd(Unsafe.As<T, float>(ref x), Unsafe.As<T, float>(ref y), Unsafe.As<T, float>(ref acc)); return Unsafe.As<float, T>(ref r); }
        if (typeof(T) == typeof(double)) { double r = Math.FusedMultiplyAdd(Unsafe.As<T, double>(ref x), Unsafe.As<T, double>(ref y), Unsafe.As<T, double>(ref acc)); return Unsafe.As<double, T>(ref r); }
        throw new NotSupportedException(typeof(T).Name);
    }
}
