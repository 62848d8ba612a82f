using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using X86Fma = System.Runtime.Intrinsics.X86.Fma;

namespace Sparkle.Tensors.Cpu.Gemm;

/// <summary>
/// Generic fused multiply-add for float/double vectors. .NET offers FusedMultiplyAdd only per element
/// type; the type tests are JIT-time constants, so each instantiation compiles to one vfmadd (fmla on ARM64).
/// </summary>
internal static class VectorFma
{
    /// <summary>Whether the 128-bit form fuses in hardware (AdvSimd on ARM64, FMA on x64).</summary>
    public static bool Fused128 => AdvSimd.IsSupported || X86Fma.IsSupported;

    /// <summary>a*b + c with one rounding where the hardware fuses 128-bit vectors; else a multiply and an add (a
    /// software FMA would be far slower), so only there the Vector128 kernels may differ in the last bit.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<T> Fma<T>(Vector128<T> a, Vector128<T> b, Vector128<T> c)
    {
        if (!Fused128) return a * b + c;
        if (typeof(T) == typeof(float))
            return Vector128.FusedMultiplyAdd(a.AsSingle(), b.AsSingle(), c.AsSingle()).As<float, T>();
        if (typeof(T) == typeof(double))
            return Vector128.FusedMultiplyAdd(a.AsDouble(), b.AsDouble(), c.AsDouble()).As<double, T>();
        throw new NotSupportedException(typeof(T).Name);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> Fma<T>(Vector256<T> a, Vector256<T> b, Vector256<T> c)
    {
        if (typeof(T) == typeof(float))
            return Vector256.FusedMultiplyAdd(a.AsSingle(), b.AsSingle(), c.AsSingle()).As<float, T>();
        if (typeof(T) == typeof(double))
            return Vector256.FusedMultiplyAdd(a.AsDouble(), b.AsDouble(), c.AsDouble()).As<double, T>();
        throw new NotSupportedException(typeof(T).Name);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> Fma<T>(Vector512<T> a, Vector512<T> b, Vector512<T> c)
    {
        if (typeof(T) == typeof(float))
            return Vector512.FusedMultiplyAdd(a.AsSingle(), b.AsSingle(), c.AsSingle()).As<float, T>();
        if (typeof(T) == typeof(double))
            return Vector512.FusedMultiplyAdd(a.AsDouble(), b.AsDouble(), c.AsDouble()).As<double, T>();
        throw new NotSupportedException(typeof(T).Name);
    }
}
