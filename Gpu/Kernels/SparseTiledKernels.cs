using ILGPU;
using ILGPU.Runtime;

namespace Sparkle.Gpu.Kernels;

/// <summary>
/// Shared-memory tiled versions of the sparse convolution's two GEMMs, with the layout of <see cref="TiledMatMulKernel"/>
/// (grid of block tiles, a 1-D group of TX·TY threads, block tile 4·TY x 4·TX, K in tiles of 16 staged in shared memory,
/// a 4x4 register micro-tile per thread) but with the A tile loaded through the neighbour map, so no im2col buffer is
/// ever made:
/// - <see cref="RowsConv{T, TE}"/>: the forward and the input gradient (<see cref="SparseRowsArgs"/>), grid
///   (ceil(NG/BN), ceil(M/BM), groups), K = taps·KC; sums k = t·KC + kc ascending like <see cref="SparseKernels.RowsConv{T, TE}"/>.
/// - <see cref="WeightPartial{T, TE}"/>: the weight (and bias) gradient, (taps·Cg + bias) x Og outputs per group reducing
///   over one chunk of rows per grid z (groups·parts), into partials that <see cref="SparseKernels.WeightCombine{T, TE}"/>
///   adds in a fixed order.
/// </summary>
public static class SparseTiledKernels
{
    public const int BK = TiledMatMulKernel.BK;
    public const int MaxTile = TiledMatMulKernel.MaxTile;

    public static void RowsConv<T, TE>(ArrayView1D<T, Stride1D.Dense> src, ArrayView1D<int, Stride1D.Dense> map,
        ArrayView1D<T, Stride1D.Dense> w, ArrayView1D<T, Stride1D.Dense> bias, ArrayView1D<T, Stride1D.Dense> dst,
        SparseRowsArgs a, int tx, int ty)
        where T : unmanaged where TE : struct, IElement<T>
    {
        var e = default(TE);
        var sa = SharedMemory.Allocate<T>(BK * MaxTile);          // [k][m]
        var sb = SharedMemory.Allocate<T>(BK * MaxTile);          // [k][n]
        int bm = 4 * ty, bn = 4 * tx, threads = tx * ty;
        int tid = Group.IdxX, col = tid % tx, row = tid / tx;
        int n0 = Grid.IdxX * bn, m0 = Grid.IdxY * bm, g = Grid.IdxZ;
        int k = a.Taps * a.KC;
        bool wkFast = a.WK <= a.WN;                                // walk the weight's smaller stride across threads
        T zero = e.FromLong(0);
        T c00 = zero, c01 = zero, c02 = zero, c03 = zero;
        T c10 = zero, c11 = zero, c12 = zero, c13 = zero;
        T c20 = zero, c21 = zero, c22 = zero, c23 = zero;
        T c30 = zero, c31 = zero, c32 = zero, c33 = zero;
        for (int k0 = 0; k0 < k; k0 += BK)
        {
            // A: consecutive threads take consecutive k, i.e. consecutive channels of one gathered row (coalesced).
            for (int l = tid; l < BK * bm; l += threads)
            {
                int kk = l % BK, mm = l / BK, gm = m0 + mm, gk = k0 + kk;
                T v = zero;
                if (gm < a.M && gk < k)
                {
                    int t = gk / a.KC, kc = gk - t * a.KC;
                    int j = a.Identity != 0 ? gm : map[a.MapOff + gm * a.Taps + t];
                    if (j >= 0) v = src[a.SrcOff + j * a.SrcC + g * a.KC + kc];
                }
                sa[kk * bm + mm] = v;
            }
            for (int l = tid; l < BK * bn; l += threads)
            {
                int kk, nn;
                if (wkFast) { kk = l % BK; nn = l / BK; }
                else { nn = l % bn; kk = l / bn; }
                int gn = n0 + nn, gk = k0 + kk;
                T v = zero;
                if (gn < a.NG && gk < k)
                {
                    int t = gk / a.KC, kc = gk - t * a.KC;
                    v = w[a.WOff + g * a.WGroup + kc * a.WK + gn * a.WN + t * a.WT];
                }
                sb[kk * bn + nn] = v;
            }
            Group.Barrier();
            int kEnd = k - k0 < BK ? k - k0 : BK;
            for (int kk = 0; kk < kEnd; kk++)
            {
                int ra = kk * bm + row, rb = kk * bn + col;
                T a0 = sa[ra], a1 = sa[ra + ty], a2 = sa[ra + 2 * ty], a3 = sa[ra + 3 * ty];
                T b0 = sb[rb], b1 = sb[rb + tx], b2 = sb[rb + 2 * tx], b3 = sb[rb + 3 * tx];
                c00 = e.Add(c00, e.Mul(a0, b0)); c01 = e.Add(c01, e.Mul(a0, b1)); c02 = e.Add(c02, e.Mul(a0, b2)); c03 = e.Add(c03, e.Mul(a0, b3));
                c10 = e.Add(c10, e.Mul(a1, b0)); c11 = e.Add(c11, e.Mul(a1, b1)); c12 = e.Add(c12, e.Mul(a1, b2)); c13 = e.Add(c13, e.Mul(a1, b3));
                c20 = e.Add(c20, e.Mul(a2, b0)); c21 = e.Add(c21, e.Mul(a2, b1)); c22 = e.Add(c22, e.Mul(a2, b2)); c23 = e.Add(c23, e.Mul(a2, b3));
                c30 = e.Add(c30, e.Mul(a3, b0)); c31 = e.Add(c31, e.Mul(a3, b1)); c32 = e.Add(c32, e.Mul(a3, b2)); c33 = e.Add(c33, e.Mul(a3, b3));
            }
            Group.Barrier();
        }
        int mA = m0 + row, nA = n0 + col;
        StoreRow<T, TE>(dst, bias, a, g, mA, nA, tx, c00, c01, c02, c03);
        StoreRow<T, TE>(dst, bias, a, g, mA + ty, nA, tx, c10, c11, c12, c13);
        StoreRow<T, TE>(dst, bias, a, g, mA + 2 * ty, nA, tx, c20, c21, c22, c23);
        StoreRow<T, TE>(dst, bias, a, g, mA + 3 * ty, nA, tx, c30, c31, c32, c33);
    }

    private static void StoreRow<T, TE>(ArrayView1D<T, Stride1D.Dense> dst, ArrayView1D<T, Stride1D.Dense> bias, SparseRowsArgs a,
        int g, int m, int n, int tx, T v0, T v1, T v2, T v3)
        where T : unmanaged where TE : struct, IElement<T>
    {
        if (m >= a.M) return;
        int o = a.DstOff + m * a.DstC + g * a.NG;
        PutRow<T, TE>(dst, bias, a, g, o, n, v0);
        PutRow<T, TE>(dst, bias, a, g, o, n + tx, v1);
        PutRow<T, TE>(dst, bias, a, g, o, n + 2 * tx, v2);
        PutRow<T, TE>(dst, bias, a, g, o, n + 3 * tx, v3);
    }

    private static void PutRow<T, TE>(ArrayView1D<T, Stride1D.Dense> dst, ArrayView1D<T, Stride1D.Dense> bias, SparseRowsArgs a,
        int g, int rowOff, int n, T v)
        where T : unmanaged where TE : struct, IElement<T>
    {
        if (n >= a.NG) return;
        dst[rowOff + n] = a.HasBias != 0 ? default(TE).Add(v, bias[a.BOff + g * a.NG + n]) : v;
    }

    /// <summary>Grid (ceil(Og/BN), ceil(MRows/BM), groups·parts): block tile (m = t·Cg + cl or the bias row m = taps·Cg) x
    /// (n = output channel in the group) of partial g·Parts + p, reducing rows [p·Chunk, (p+1)·Chunk) ascending in tiles of
    /// 16 rows; the bias row reads 1 for every row.</summary>
    public static void WeightPartial<T, TE>(ArrayView1D<T, Stride1D.Dense> x, ArrayView1D<int, Stride1D.Dense> map,
        ArrayView1D<T, Stride1D.Dense> dy, ArrayView1D<T, Stride1D.Dense> partial, SparseWeightArgs a, int tx, int ty)
        where T : unmanaged where TE : struct, IElement<T>
    {
        var e = default(TE);
        var sa = SharedMemory.Allocate<T>(BK * MaxTile);          // [r][m]
        var sb = SharedMemory.Allocate<T>(BK * MaxTile);          // [r][n]
        int bm = 4 * ty, bn = 4 * tx, threads = tx * ty;
        int tid = Group.IdxX, col = tid % tx, row = tid / tx;
        int n0 = Grid.IdxX * bn, m0 = Grid.IdxY * bm, z = Grid.IdxZ;
        int g = z / a.Parts, p = z - g * a.Parts;
        int r0 = p * a.Chunk, r1 = r0 + a.Chunk < a.Rows ? r0 + a.Chunk : a.Rows;
        int tcg = a.Taps * a.Cg;
        T zero = e.FromLong(0), one = e.FromDouble(1.0);
        T c00 = zero, c01 = zero, c02 = zero, c03 = zero;
        T c10 = zero, c11 = zero, c12 = zero, c13 = zero;
        T c20 = zero, c21 = zero, c22 = zero, c23 = zero;
        T c30 = zero, c31 = zero, c32 = zero, c33 = zero;
        for (int rk = r0; rk < r1; rk += BK)
        {
            // A: consecutive threads take consecutive m, i.e. consecutive channels cl of one gathered row (coalesced).
            for (int l = tid; l < BK * bm; l += threads)
            {
                int mm = l % bm, kk = l / bm, r = rk + kk, m = m0 + mm;
                T v = zero;
                if (r < r1 && m < a.MRows)
                {
                    if (m < tcg)
                    {
                        int t = m / a.Cg, cl = m - t * a.Cg;
                        int j = a.Identity != 0 ? r : map[a.MapOff + r * a.Taps + t];
                        if (j >= 0) v = x[a.XOff + j * a.C + g * a.Cg + cl];
                    }
                    else v = one;
                }
                sa[kk * bm + mm] = v;
            }
            for (int l = tid; l < BK * bn; l += threads)
            {
                int nn = l % bn, kk = l / bn, r = rk + kk, n = n0 + nn;
                sb[kk * bn + nn] = r < r1 && n < a.Og ? dy[a.DyOff + r * a.O + g * a.Og + n] : zero;
            }
            Group.Barrier();
            int kEnd = r1 - rk < BK ? r1 - rk : BK;
            for (int kk = 0; kk < kEnd; kk++)
            {
                int ra = kk * bm + row, rb = kk * bn + col;
                T a0 = sa[ra], a1 = sa[ra + ty], a2 = sa[ra + 2 * ty], a3 = sa[ra + 3 * ty];
                T b0 = sb[rb], b1 = sb[rb + tx], b2 = sb[rb + 2 * tx], b3 = sb[rb + 3 * tx];
                c00 = e.Add(c00, e.Mul(a0, b0)); c01 = e.Add(c01, e.Mul(a0, b1)); c02 = e.Add(c02, e.Mul(a0, b2)); c03 = e.Add(c03, e.Mul(a0, b3));
                c10 = e.Add(c10, e.Mul(a1, b0)); c11 = e.Add(c11, e.Mul(a1, b1)); c12 = e.Add(c12, e.Mul(a1, b2)); c13 = e.Add(c13, e.Mul(a1, b3));
                c20 = e.Add(c20, e.Mul(a2, b0)); c21 = e.Add(c21, e.Mul(a2, b1)); c22 = e.Add(c22, e.Mul(a2, b2)); c23 = e.Add(c23, e.Mul(a2, b3));
                c30 = e.Add(c30, e.Mul(a3, b0)); c31 = e.Add(c31, e.Mul(a3, b1)); c32 = e.Add(c32, e.Mul(a3, b2)); c33 = e.Add(c33, e.Mul(a3, b3));
            }
            Group.Barrier();
        }
        int pBase = z * a.MRows * a.Og, mA = m0 + row, nA = n0 + col;
        StorePartial(partial, a, pBase, mA, nA, tx, c00, c01, c02, c03);
        StorePartial(partial, a, pBase, mA + ty, nA, tx, c10, c11, c12, c13);
        StorePartial(partial, a, pBase, mA + 2 * ty, nA, tx, c20, c21, c22, c23);
        StorePartial(partial, a, pBase, mA + 3 * ty, nA, tx, c30, c31, c32, c33);
    }

    private static void StorePartial<T>(ArrayView1D<T, Stride1D.Dense> partial, SparseWeightArgs a, int pBase, int m, int n, int tx,
        T v0, T v1, T v2, T v3) where T : unmanaged
    {
        if (m >= a.MRows) return;
        int o = pBase + m * a.Og;
        if (n < a.Og) partial[o + n] = v0;
        if (n + tx < a.Og) partial[o + n + tx] = v1;
        if (n + 2 * tx < a.Og) partial[o + n + 2 * tx] = v2;
        if (n + 3 * tx < a.Og) partial[o + n + 3 * tx] = v3;
    }
}
