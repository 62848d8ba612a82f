using ILGPU;
using ILGPU.Runtime;

namespace Sparkle.Gpu.Kernels;

/// <summary>
/// Conv2d forward as an implicit GEMM per group, tiled like <see cref="TiledMatMulKernel"/> (same group shapes, BK, 4x4
/// register blocking): Y_g (O/groups x P) = W_g (O/groups x K) · X_g (K x P) + bias, with K = C/groups·KH·KW and the
/// batch folded into the pixel dimension P = N·OH·OW (one grid for the whole batch, no per-image GEMMs with tiny N).
/// The im2col element X_g[k, p] is computed in the tile loader (k -> (c, ky, kx), p -> (n, oh, ow); 0 in the padding),
/// so no column buffer exists. Grid (ceil(P/BN), ceil((O/groups)/BM), groups). Operands through <see cref="ConvArgs"/>
/// strides; each output sums k in ascending order, then adds the bias.
/// </summary>
public static class TiledConvKernel
{
    public static void Forward<T, TE>(ArrayView1D<T, Stride1D.Dense> x, ArrayView1D<T, Stride1D.Dense> w,
        ArrayView1D<T, Stride1D.Dense> bias, ArrayView1D<T, Stride1D.Dense> y, ConvArgs a, int tx, int ty)
        where T : unmanaged where TE : struct, IElement<T>
    {
        const int BK = TiledMatMulKernel.BK;
        var e = default(TE);
        var sa = SharedMemory.Allocate<T>(BK * TiledMatMulKernel.MaxTile);   // [k][m]: weights
        var sb = SharedMemory.Allocate<T>(BK * TiledMatMulKernel.MaxTile);   // [k][p]: im2col of x
        int bm = TiledMatMulKernel.Micro * ty, bn = TiledMatMulKernel.Micro * tx, threads = tx * ty;
        int tid = Group.IdxX;
        int col = tid % tx, row = tid / tx;
        int p0 = Grid.IdxX * bn, m0 = Grid.IdxY * bm, g = Grid.IdxZ;
        int khw = a.KH * a.KW, k = a.Cg * khw, pixels = a.N * a.OH * a.OW, ohw = a.OH * a.OW;
        int wBase = a.WOff + g * a.Og * a.WsO, xBase = a.XOff + g * a.Cg * a.XsC;
        T zero = e.FromDouble(0.0);
        T c00 = zero, c01 = zero, c02 = zero, c03 = zero;
        T c10 = zero, c11 = zero, c12 = zero, c13 = zero;
        T c20 = zero, c21 = zero, c22 = zero, c23 = zero;
        T c30 = zero, c31 = zero, c32 = zero, c33 = zero;
        for (int k0 = 0; k0 < k; k0 += BK)
        {
            // Weights: k fastest across threads (contiguous within an OIHW filter).
            for (int l = tid; l < BK * bm; l += threads)
            {
                int kk = l % BK, mm = l / BK;
                int gm = m0 + mm, gk = k0 + kk;
                T v = zero;
                if (gm < a.Og && gk < k)
                {
                    int c = gk / khw, r = gk - c * khw;
                    int ky = r / a.KW, kx = r - ky * a.KW;
                    v = w[wBase + gm * a.WsO + c * a.WsC + ky * a.WsH + kx * a.WsW];
                }
                sa[kk * bm + mm] = v;
            }
            // Input taps: the pixel fastest across threads (ow is contiguous in NCHW).
            for (int l = tid; l < BK * bn; l += threads)
            {
                int nn = l % bn, kk = l / bn;
                int gp = p0 + nn, gk = k0 + kk;
                T v = zero;
                if (gp < pixels && gk < k)
                {
                    int c = gk / khw, r = gk - c * khw;
                    int ky = r / a.KW, kx = r - ky * a.KW;
                    int n = gp / ohw, q = gp - n * ohw;
                    int oh = q / a.OW, ow = q - oh * a.OW;
                    int ih = oh * a.SH - a.PH + ky * a.DH, iw = ow * a.SW - a.PW + kx * a.DW;
                    if (ih >= 0 && ih < a.H && iw >= 0 && iw < a.W)
                        v = x[xBase + n * a.XsN + c * a.XsC + ih * a.XsH + iw * a.XsW];
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
        int mA = m0 + row, pA = p0 + col;
        Store<T, TE>(y, bias, a, g, mA, pA, tx, c00, c01, c02, c03);
        Store<T, TE>(y, bias, a, g, mA + ty, pA, tx, c10, c11, c12, c13);
        Store<T, TE>(y, bias, a, g, mA + 2 * ty, pA, tx, c20, c21, c22, c23);
        Store<T, TE>(y, bias, a, g, mA + 3 * ty, pA, tx, c30, c31, c32, c33);
    }

    private static void Store<T, TE>(ArrayView1D<T, Stride1D.Dense> y, ArrayView1D<T, Stride1D.Dense> bias, ConvArgs a, int g, int m, int p,
        int tx, T v0, T v1, T v2, T v3)
        where T : unmanaged where TE : struct, IElement<T>
    {
        if (m >= a.Og) return;
        int o = g * a.Og + m;
        int yo = a.YOff + o * a.YsC;
        if (a.HasBias != 0)
        {
            var e = default(TE);
            T bv = bias[a.BOff + o * a.BS];
            v0 = e.Add(v0, bv); v1 = e.Add(v1, bv); v2 = e.Add(v2, bv); v3 = e.Add(v3, bv);
        }
        Put(y, a, yo, p, v0);
        Put(y, a, yo, p + tx, v1);
        Put(y, a, yo, p + 2 * tx, v2);
        Put(y, a, yo, p + 3 * tx, v3);
    }

    private static void Put<T>(ArrayView1D<T, Stride1D.Dense> y, ConvArgs a, int yo, int p, T v) where T : unmanaged
    {
        int ohw = a.OH * a.OW;
        if (p >= a.N * ohw) return;
        int n = p / ohw, q = p - n * ohw;
        int oh = q / a.OW, ow = q - oh * a.OW;
        y[yo + n * a.YsN + oh * a.YsH + ow * a.YsW] = v;
    }
}
