namespace Sparkle.Tensors.Cpu.Gemm;

/// <summary>The register micro-kernels the packed GEMM can run; the CPU backend derives its one from
/// <see cref="CpuKernelOptions.Isa"/>. <see cref="Auto"/> is the default options' (<see cref="GemmKernels.Best"/>).</summary>
internal enum GemmKernel { Auto, Vector512, Vector256, Vector128, Scalar }

/// <summary>
/// The host's best micro-kernel, in one place. Which kernel a call runs is a value the caller passes
/// (<see cref="Blas.Gemm{T}"/>'s kernel argument; the CPU backend's <see cref="CpuKernelOptions.Isa"/>), never a
/// hidden per-thread setting, so tests run the emulated Vector512 kernel on AVX2 machines without touching others.
/// </summary>
internal static class GemmKernels
{
    /// <summary>The micro-kernel of the default options: the host's best family, or the one SPARKLE_ISA names (so that
    /// direct <see cref="Blas.Gemm{T}"/> callers follow the setting too).</summary>
    public static GemmKernel Best { get; } = CpuKernelOptions.Default.GemmKernel;
}
