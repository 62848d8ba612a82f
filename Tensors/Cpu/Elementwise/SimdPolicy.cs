using System.Runtime.Intrinsics;

namespace Sparkle.Tensors.Cpu.Elementwise;

/// <summary>
/// Which vector width the elementwise and reduction kernels use: Vector512 where the hardware has it,
/// else Vector256. Every vectorised op gives bit-identical lanes at both widths (tests check this).
/// </summary>
internal static class SimdPolicy
{
    /// <summary>Test hook: take the Vector512 paths even where Vector512 is emulated in software
    /// (correct there, but slower than Vector256). Set only from tests that run alone.</summary>
    internal static bool ForceVector512 { get; set; }

    public static bool UseVector512 => ForceVector512 || Vector512.IsHardwareAccelerated;
}
