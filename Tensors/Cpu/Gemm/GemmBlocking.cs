namespace Sparkle.Tensors.Cpu.Gemm;

/// <summary>Blocking shared by every micro-kernel.</summary>
internal static class GemmBlocking
{
    /// <summary>
    /// Largest k extent of a packed block. K is cut into ceil(K/KC) equal blocks, and C accumulates the
    /// blocks in order, so an element's summation order depends on K alone: not on the thread count
    /// (determinism) and not on the kernel (the AVX2 and AVX-512 kernels give the same bits).
    /// 256 keeps a B micro-panel in L1 (16 KB for the AVX2 tile, 32 KB of Zen 5's 48 KB for the AVX-512 tile)
    /// and makes the C read-modify-write per block negligible (one per 256 FMAs).
    /// </summary>
    public const int KC = 256;
}
