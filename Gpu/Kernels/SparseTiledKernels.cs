using ILGPU;
using ILGPU.Runtime;

namespace Sparkle.Gpu.Kernels;

/// <summary>
/// The sparse convolution's two GEMMs on the <see cref="TiledGemm"/> core (its indexed entry,
/// <see cref="TiledGemm.BlockIndexed"/>), with the A operand read through the neighbour map, so no im2col buffer is ever made:
/// - <see cref="RowsConv{T, TE}"/>: the forward and the input gradient (<see cref="SparseRowsArgs"/>), grid
///   (ceil(NG/BN), ceil(M/BM), groups), K = taps·KC; sums k = t·KC + kc ascending like <see cref="SparseKernels.RowsConv{T, TE}"/>.
/// - <see cref="WeightPartial{T, TE}"/>: the weight (and bias) gradient, (taps·Cg + bias) x Og outputs per group reducing
///   over one chunk of rows per grid z (groups·parts), into partials that <see cref="SparseKernels.WeightCombine{T, TE}"/>
///   adds in a fixed order.
/// </summary>
public static class SparseTiledKernels
{
    public static void RowsConv<T, TE>(ArrayView1D<T, Stride1D.Dense> src, ArrayView1D<int, Stride1D.Dense> map,
        ArrayView1D<T, Stride1D.Dense> w, ArrayView1D<T, Stride1D.Dense> bias, ArrayView1D<T, Stride1D.Dense> dst,
        SparseRowsArgs a, int tx, int ty)
        where T : unmanaged where TE : struct, IElement<T>
    {
        var sa = SharedMemory.Allocate<T>(TiledGemm.SharedTile);
        var sb = SharedMemory.Allocate<T>(TiledGemm.SharedTile);
        TiledGemm.BlockIndexed<T, TE, SparseRowsArgs, SparseRowsA<T>, PlainOperand<T, SparseRowsArgs, SparseRowsWeightB<T>>, SparseRowsStore<T, TE>>(
            sa, sb, src, w, map.BaseView, dst, bias, a, Grid.IdxZ, a.M, a.NG, 0, a.Taps * a.KC, tx, ty);
    }

    /// <summary>Grid (ceil(Og/BN), ceil(MRows/BM), groups·parts): block tile (m = t·Cg + cl or the bias row m = taps·Cg) x
    /// (n = output channel in the group) of partial g·Parts + p, reducing rows [p·Chunk, (p+1)·Chunk) ascending in tiles of
    /// 16 rows; the bias row reads 1 for every row.</summary>
    public static void WeightPartial<T, TE>(ArrayView1D<T, Stride1D.Dense> x, ArrayView1D<int, Stride1D.Dense> map,
        ArrayView1D<T, Stride1D.Dense> dy, ArrayView1D<T, Stride1D.Dense> partial, SparseWeightArgs a, int tx, int ty)
        where T : unmanaged where TE : struct, IElement<T>
    {
        var sa = SharedMemory.Allocate<T>(TiledGemm.SharedTile);
        var sb = SharedMemory.Allocate<T>(TiledGemm.SharedTile);
        int z = Grid.IdxZ, p = z % a.Parts;
        int r0 = p * a.Chunk, r1 = r0 + a.Chunk < a.Rows ? r0 + a.Chunk : a.Rows;
        TiledGemm.BlockIndexed<T, TE, SparseWeightArgs, SparseWeightA<T, TE>, PlainOperand<T, SparseWeightArgs, SparseWeightB<T>>, SparsePartialStore<T>>(
            sa, sb, x, dy, map.BaseView, partial, partial, a, z, a.MRows, a.Og, r0, r1, tx, ty);
    }
}

/// <summary>A of the sparse rows GEMM: the gathered rows, src[j, g·KC + kc] for k = t·KC + kc and j the row's neighbour
/// at tap t (the row itself for an identity map; -1 = no neighbour: 0).</summary>
public struct SparseRowsA<T> : IGemmIndexedOperand<T, SparseRowsArgs> where T : unmanaged
{
    public readonly T Load(ArrayView1D<T, Stride1D.Dense> src, ArrayView<int> map, SparseRowsArgs a, int g, int m, int k)
    {
        if (m >= a.M || k >= a.Taps * a.KC) return default;
        int t = k / a.KC, kc = k - t * a.KC;
        int j = a.Identity != 0 ? m : map[a.MapOff + m * a.Taps + t];
        return j >= 0 ? src[a.SrcOff + j * a.SrcC + g * a.KC + kc] : default;
    }
    // Consecutive k are consecutive channels of one gathered row.
    public readonly bool ColumnFast(SparseRowsArgs a) => true;
}

/// <summary>B of the sparse rows GEMM: the weight w[g][kc, n, t] through its strides for k = t·KC + kc.</summary>
public struct SparseRowsWeightB<T> : IGemmOperand<T, SparseRowsArgs> where T : unmanaged
{
    public readonly T Load(ArrayView1D<T, Stride1D.Dense> w, SparseRowsArgs a, int g, int k, int n)
    {
        if (n >= a.NG || k >= a.Taps * a.KC) return default;
        int t = k / a.KC, kc = k - t * a.KC;
        return w[a.WOff + g * a.WGroup + kc * a.WK + n * a.WN + t * a.WT];
    }
    // The weight's smaller stride across threads.
    public readonly bool ColumnFast(SparseRowsArgs a) => a.WK > a.WN;
}

/// <summary>The sparse rows GEMM's output dst[m, g·NG + n] (+ bias[g·NG + n]; the bias view is <c>extra</c>).</summary>
public struct SparseRowsStore<T, TE> : IGemmStore<T, SparseRowsArgs> where T : unmanaged where TE : struct, IElement<T>
{
    public readonly void Store(ArrayView1D<T, Stride1D.Dense> dst, ArrayView1D<T, Stride1D.Dense> bias, SparseRowsArgs a, int g, int m, int n, T v) =>
        dst[a.DstOff + m * a.DstC + g * a.NG + n] = a.HasBias != 0 ? default(TE).Add(v, bias[a.BOff + g * a.NG + n]) : v;
}

/// <summary>A of the sparse weight gradient over the rows r (its k): x[j, g·Cg + cl] for m = t·Cg + cl and j row r's
/// neighbour at tap t, or 1 in the bias row m = taps·Cg.</summary>
public struct SparseWeightA<T, TE> : IGemmIndexedOperand<T, SparseWeightArgs> where T : unmanaged where TE : struct, IElement<T>
{
    public readonly T Load(ArrayView1D<T, Stride1D.Dense> x, ArrayView<int> map, SparseWeightArgs a, int z, int m, int r)
    {
        if (m >= a.MRows || r >= a.Rows) return default;
        if (m >= a.Taps * a.Cg) return default(TE).FromDouble(1.0);
        int g = z / a.Parts, t = m / a.Cg, cl = m - t * a.Cg;
        int j = a.Identity != 0 ? r : map[a.MapOff + r * a.Taps + t];
        return j >= 0 ? x[a.XOff + j * a.C + g * a.Cg + cl] : default;
    }
    // Consecutive m are consecutive channels of one gathered row.
    public readonly bool ColumnFast(SparseWeightArgs a) => false;
}

/// <summary>B of the sparse weight gradient: dy[r, g·Og + n].</summary>
public struct SparseWeightB<T> : IGemmOperand<T, SparseWeightArgs> where T : unmanaged
{
    public readonly T Load(ArrayView1D<T, Stride1D.Dense> dy, SparseWeightArgs a, int z, int r, int n) =>
        r < a.Rows && n < a.Og ? dy[a.DyOff + r * a.O + (z / a.Parts) * a.Og + n] : default;
    public readonly bool ColumnFast(SparseWeightArgs a) => true;
}

/// <summary>The sparse weight gradient's partial z (= g·Parts + p): partial[z][m, n], (MRows x Og) each.</summary>
public struct SparsePartialStore<T> : IGemmStore<T, SparseWeightArgs> where T : unmanaged
{
    public readonly void Store(ArrayView1D<T, Stride1D.Dense> partial, ArrayView1D<T, Stride1D.Dense> extra, SparseWeightArgs a, int z, int m, int n, T v) =>
        partial[(z * a.MRows + m) * a.Og + n] = v;
}
