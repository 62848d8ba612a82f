using System.Runtime.CompilerServices;

namespace Sparkle.Tensors.Cpu.Elementwise;

/// <summary>JIT-time type tests and a scalar escape hatch for generic kernels.</summary>
internal static class FloatTypes
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool IsFloat<T>() => typeof(T) == typeof(float) || typeof(T) == typeof(double);

    /// <summary>f applied in float64 and converted back (used only by the scalar forms for non-float types).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T ViaDouble<T>(T x, Func<double, double> f) where T : unmanaged
        => CpuBackend.FromDouble<T>(f(CpuBackend.ToDouble(x)));
}
