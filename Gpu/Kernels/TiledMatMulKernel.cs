using ILGPU;
using ILGPU.Runtime;

namespace Sparkle.Gpu.Kernels;

/// <summary>
/// Shared-memory tiled batched GEMM with 4x4 register blocking: dst[b] = a[b] @ b[b] (+ dst[b]), any strides (the same
/// <see cref="MatMulArgs"/> as the naive kernel; batch stride 0 = broadcast; transposed views). Explicitly grouped:
/// grid (ceil(N/BN), ceil(M/BM), batch), group TX*TY threads (1-D), block tile BM = 4·TY rows x BN = 4·TX columns,
/// K in tiles of <see cref="BK"/> staged in shared memory (zero-padded at the edges, so M, N, K need not be multiples).
/// Thread (ty, tx) owns rows ty + i·TY and columns tx + j·TX (i, j &lt; 4): conflict-free shared reads and coalesced
/// stores. Each output sums k in ascending order, as the naive kernel does. TX = TY = 16 (64x64 tiles, 256 threads) on
/// GPUs; the CPU simulator (16 threads per group at most) runs 4x4 (16x16 tiles). Tile loads walk the operand's unit-stride
/// dimension across consecutive threads (coalesced for row-major and transposed operands).
/// </summary>
public static class TiledMatMulKernel
{
    /// <summary>K depth of a shared tile.</summary>
    public const int BK = 16;
    /// <summary>Largest block tile side (4·16): the static shared arrays are sized for it.</summary>
    public const int MaxTile = 64;
    public const int Micro = 4;

    public static void MatMul<T, TE>(ArrayView1D<T, Stride1D.Dense> a, ArrayView1D<T, Stride1D.Dense> b,
        ArrayView1D<T, Stride1D.Dense> dst, int dOff, MatMulArgs p, int tx, int ty)
        where T : unmanaged where TE : struct, IElement<T>
    {
        var e = default(TE);
        var sa = SharedMemory.Allocate<T>(BK * MaxTile);          // [k][m], k-major
        var sb = SharedMemory.Allocate<T>(BK * MaxTile);          // [k][n]
        int bm = Micro * ty, bn = Micro * tx, threads = tx * ty;
        int tid = Group.IdxX;
        int col = tid % tx, row = tid / tx;
        int n0 = Grid.IdxX * bn, m0 = Grid.IdxY * bm, batch = Grid.IdxZ;
        int aBase = p.AOff + batch * p.SaB, bBase = p.BOff + batch * p.SbB;
        T zero = e.FromLong(0);
        T c00 = zero, c01 = zero, c02 = zero, c03 = zero;
        T c10 = zero, c11 = zero, c12 = zero, c13 = zero;
        T c20 = zero, c21 = zero, c22 = zero, c23 = zero;
        T c30 = zero, c31 = zero, c32 = zero, c33 = zero;
        bool aKFast = p.SaK == 1, bKFast = p.SbK == 1;
        for (int k0 = 0; k0 < p.K; k0 += BK)
        {
            for (int l = tid; l < BK * bm; l += threads)
            {
                int kk, mm;
                if (aKFast) { kk = l % BK; mm = l / BK; }
                else { mm = l % bm; kk = l / bm; }
                int gm = m0 + mm, gk = k0 + kk;
                sa[kk * bm + mm] = gm < p.M && gk < p.K ? a[aBase + gm * p.SaM + gk * p.SaK] : zero;
            }
            for (int l = tid; l < BK * bn; l += threads)
            {
                int kk, nn;
                if (bKFast) { kk = l % BK; nn = l / BK; }
                else { nn = l % bn; kk = l / bn; }
                int gn = n0 + nn, gk = k0 + kk;
                sb[kk * bn + nn] = gn < p.N && gk < p.K ? b[bBase + gk * p.SbK + gn * p.SbN] : zero;
            }
            Group.Barrier();
            int kEnd = p.K - k0 < BK ? p.K - k0 : BK;              // the zero padding would add exact zeros; skip it
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
        int dBase = dOff + batch * p.M * p.N;
        int mA = m0 + row, nA = n0 + col;
        Store<T, TE>(dst, dBase, p, mA, nA, tx, c00, c01, c02, c03);
        Store<T, TE>(dst, dBase, p, mA + ty, nA, tx, c10, c11, c12, c13);
        Store<T, TE>(dst, dBase, p, mA + 2 * ty, nA, tx, c20, c21, c22, c23);
        Store<T, TE>(dst, dBase, p, mA + 3 * ty, nA, tx, c30, c31, c32, c33);
    }

    private static void Store<T, TE>(ArrayView1D<T, Stride1D.Dense> dst, int dBase, MatMulArgs p, int m, int n, int tx, T v0, T v1, T v2, T v3)
        where T : unmanaged where TE : struct, IElement<T>
    {
        if (m >= p.M) return;
        int o = dBase + m * p.N;
        Put<T, TE>(dst, o, p, n, v0);
        Put<T, TE>(dst, o, p, n + tx, v1);
        Put<T, TE>(dst, o, p, n + 2 * tx, v2);
        Put<T, TE>(dst, o, p, n + 3 * tx, v3);
    }

    private static void Put<T, TE>(ArrayView1D<T, Stride1D.Dense> dst, int rowOff, MatMulArgs p, int n, T v)
        where T : unmanaged where TE : struct, IElement<T>
    {
        if (n >= p.N) return;
        dst[rowOff + n] = p.Accumulate != 0 ? default(TE).Add(dst[rowOff + n], v) : v;
    }
}
