using ILGPU;
using ILGPU.Runtime;

namespace Sparkle.Gpu.Kernels;

/// <summary>
/// Shared-memory tiled batched GEMM: dst[b] = a[b] @ b[b] (+ dst[b]), any strides (the same <see cref="MatMulArgs"/> as
/// the naive kernel; batch stride 0 = broadcast; transposed views), on the <see cref="TiledGemm"/> core with the
/// <see cref="MatMulA{T}"/> / <see cref="MatMulB{T}"/> loaders. Grid (ceil(N/BN), ceil(M/BM), batch), group TX·TY threads.
/// </summary>
public static class TiledMatMulKernel
{
    /// <summary>K depth of a shared tile.</summary>
    public const int BK = TiledGemm.BK;
    /// <summary>Largest block tile side.</summary>
    public const int MaxTile = TiledGemm.MaxTile;
    public const int Micro = TiledGemm.Micro;

    public static void MatMul<T, TE>(ArrayView1D<T, Stride1D.Dense> a, ArrayView1D<T, Stride1D.Dense> b,
        ArrayView1D<T, Stride1D.Dense> dst, int dOff, MatMulArgs p, int tx, int ty)
        where T : unmanaged where TE : struct, IElement<T>
    {
        var sa = SharedMemory.Allocate<T>(TiledGemm.SharedTile);
        var sb = SharedMemory.Allocate<T>(TiledGemm.SharedTile);
        TiledGemm.Block<T, TE, MatMulArgs, MatMulA<T>, MatMulB<T>, MatMulStore<T, TE>>(sa, sb, a, b,
            dst.SubView(dOff, dst.Length - dOff), dst, p, Grid.IdxZ, p.M, p.N, 0, p.K, tx, ty);
    }
}

/// <summary>A matmul's destination: contiguous (B, M, N) from the view's start (the entry passes the view at the
/// destination's offset); written, or added to when <see cref="MatMulArgs.Accumulate"/>.</summary>
public struct MatMulStore<T, TE> : IGemmStore<T, MatMulArgs> where T : unmanaged where TE : struct, IElement<T>
{
    public readonly void Store(ArrayView1D<T, Stride1D.Dense> dst, ArrayView1D<T, Stride1D.Dense> extra, MatMulArgs p, int z, int row, int col, T value)
    {
        int i = (z * p.M + row) * p.N + col;
        dst[i] = p.Accumulate != 0 ? default(TE).Add(dst[i], value) : value;
    }
}
