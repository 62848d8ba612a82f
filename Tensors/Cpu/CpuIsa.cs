using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Sparkle.Tensors.Cpu;

/// <summary>
/// The vector instruction set the CPU kernels are written for (docs/tensors.md, "Instruction sets"). Each one names a
/// kernel family: the GEMM micro-kernel, the width of the elementwise and reduction drivers, and which direct
/// convolution kernels the plan may pick. Any choice runs on any host: one the hardware lacks is emulated by the
/// runtime (correct, slow), which is how tests cover every family on one machine.
/// </summary>
public enum CpuIsa
{
    /// <summary>The host's best (<see cref="CpuIsas.Host"/>).</summary>
    Auto,
    /// <summary>Vector512 kernels (AVX-512).</summary>
    Avx512,
    /// <summary>Vector256 kernels with FMA (AVX2), and the slab convolution kernels.</summary>
    Avx2,
    /// <summary>Vector128 kernels (ARM64 AdvSimd, or SSE/AVX on x64).</summary>
    V128,
    /// <summary>No SIMD: the scalar GEMM micro-kernel and element-by-element loops.</summary>
    Scalar,
}

/// <summary>Vector width of the elementwise and reduction drivers, in bits (0: element by element).</summary>
internal enum SimdWidth { Scalar = 0, V128 = 128, V256 = 256, V512 = 512 }

/// <summary>The host's best instruction set and the SPARKLE_ISA setting, in one place.</summary>
public static class CpuIsas
{
    /// <summary>The widest family the hardware runs natively: Vector512 needs AVX-512 (and the runtime's consent:
    /// it reports Vector512 unaccelerated on parts that throttle), Avx2 needs FMA.</summary>
    public static CpuIsa Host { get; } =
        Vector512.IsHardwareAccelerated && Avx512F.IsSupported ? CpuIsa.Avx512
        : Vector256.IsHardwareAccelerated && Fma.IsSupported ? CpuIsa.Avx2
        : Vector128.IsHardwareAccelerated ? CpuIsa.V128
        : CpuIsa.Scalar;

    /// <summary>The names SPARKLE_ISA accepts.</summary>
    public const string Names = "avx512, avx2, v128, scalar";

    /// <summary>Parses a SPARKLE_ISA value (case-insensitive); null or empty = Auto.</summary>
    public static CpuIsa Parse(string? value) => value?.Trim().ToLowerInvariant() switch
    {
        null or "" or "auto" => CpuIsa.Auto,
        "avx512" => CpuIsa.Avx512,
        "avx2" => CpuIsa.Avx2,
        "v128" => CpuIsa.V128,
        "scalar" => CpuIsa.Scalar,
        _ => throw new ArgumentException($"SPARKLE_ISA={value} is not an instruction set; use one of {Names} (or leave it unset for the host's best)."),
    };

    /// <summary>The CpuIsa an option resolves to (Auto: <see cref="Host"/>).</summary>
    public static CpuIsa Resolve(CpuIsa isa) => isa == CpuIsa.Auto ? Host : isa;

    /// <summary>The lower-case name SPARKLE_ISA uses (benchmark headers print it).</summary>
    public static string Name(CpuIsa isa) => Resolve(isa).ToString().ToLowerInvariant();
}
