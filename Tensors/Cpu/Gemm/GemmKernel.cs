using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Sparkle.Tensors.Cpu.Gemm;

/// <summary>The register micro-kernels the packed GEMM can run. <see cref="Auto"/> picks the widest one
/// the hardware accelerates.</summary>
public enum GemmKernel { Auto, Vector512, Vector256, Scalar }

/// <summary>
/// The host's best micro-kernel, in one place. Which kernel a call runs is a value the caller passes
/// (<see cref="Blas.Gemm{T}"/>'s kernel argument; the CPU backend's <see cref="CpuKernelOptions.Gemm"/>), never a
/// hidden per-thread setting, so tests run the emulated Vector512 kernel on AVX2 machines without touching others.
/// </summary>
public static class GemmKernels
{
    /// <summary>The widest kernel the hardware runs natively: Vector512 with AVX-512, Vector256 with AVX2+FMA, else Scalar.</summary>
    public static GemmKernel Best { get; } =
        Vector512.IsHardwareAccelerated && Avx512F.IsSupported ? GemmKernel.Vector512
        : Vector256.IsHardwareAccelerated && Fma.IsSupported ? GemmKernel.Vector256
        : GemmKernel.Scalar;
}
