using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Sparkle.Tensors.Cpu.Gemm;

/// <summary>The register micro-kernels the packed GEMM can run. <see cref="Auto"/> picks the widest one
/// the hardware accelerates.</summary>
public enum GemmKernel { Auto, Vector512, Vector256, Scalar }

/// <summary>
/// Kernel selection, in one place. <see cref="Force"/> overrides the choice for the calling thread only
/// (tests use it to run the emulated Vector512 kernel on AVX2 machines without slowing other threads;
/// the choice is made once per call on the calling thread and shared with the pool's workers).
/// </summary>
public static class GemmKernels
{
    [ThreadStatic] private static GemmKernel _force;

    /// <summary>Kernel used by GEMM calls made from this thread; Auto (the default) = best available.
    /// Forcing Vector512 on hardware without AVX-512 is correct but slow (software emulation).</summary>
    public static GemmKernel Force
    {
        get => _force;
        set => _force = value;
    }

    /// <summary>The widest kernel the hardware runs natively: Vector512 with AVX-512, Vector256 with AVX2+FMA, else Scalar.</summary>
    public static GemmKernel Best { get; } =
        Vector512.IsHardwareAccelerated && Avx512F.IsSupported ? GemmKernel.Vector512
        : Vector256.IsHardwareAccelerated && Fma.IsSupported ? GemmKernel.Vector256
        : GemmKernel.Scalar;

    /// <summary>The kernel the next call on this thread will use.</summary>
    public static GemmKernel Current => _force == GemmKernel.Auto ? Best : _force;
}
