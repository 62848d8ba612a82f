namespace Sparkle.Tensors.Cpu.Gemm;

/// <summary>
/// A register-tiled micro-kernel: C[MR x NR] (+)= Apanel · Bpanel over kc steps, where the packed A
/// micro-panel holds MR elements per k (column of A) and the packed B micro-panel NR elements per k (row
/// of B). Implemented by structs so the driver, generic over the kernel type, is specialised by the JIT
/// and the kernel call is direct. MC and NC belong to the kernel because they follow from its tile and the
/// caches it was tuned for; KC is common to all kernels (<see cref="GemmBlocking.KC"/>).
/// </summary>
internal interface IMicroKernel<T> where T : unmanaged
{
    /// <summary>Rows of the register tile (A micro-panel height).</summary>
    static abstract int MR { get; }

    /// <summary>Columns of the register tile (B micro-panel width).</summary>
    static abstract int NR { get; }

    /// <summary>Rows of a packed A block (kept in L2); a multiple of MR.</summary>
    static abstract int MC { get; }

    /// <summary>Columns of a packed B panel (kept in L3); a multiple of NR.</summary>
    static abstract int NC { get; }

    /// <summary>Computes the full MR x NR tile: c[r*ldc + j] = (add ? c[r*ldc + j] : 0) + sum_p a[p*MR + r] * b[p*NR + j].
    /// Every element's sum runs over p in order with one fused multiply-add per step, so all FMA
    /// kernels give bit-identical results.</summary>
    static abstract void Run(int kc, ref T a, ref T b, ref T c, nint ldc, bool add);
}
