using ILGPU;
using ILGPU.Runtime;

namespace Sparkle.Gpu.Kernels;

/// <summary>
/// SparK's active-site kernels, one thread per output element (docs/gpu.md "Sparse kernels"): gather of active rows from a
/// strided dense map, scatter back to a fresh dense map (zeros at masked sites, every element written once), the rows
/// convolution for depthwise and small groups, and the split weight-gradient reduction with its combining pass. The
/// shared-memory tiled variants for wide groups are in <see cref="SparseTiledKernels"/>. Index tensors are Int32.
/// </summary>
public static class SparseKernels
{
    /// <summary>rows[r, c] = x[b, c, y, x] for Sites[r] = (b·H + y)·W + x. Thread i = r·C + c when x is channels-last
    /// (reads and writes both coalesced); otherwise i = c·Count + r (<paramref name="channelMajor"/> != 0), so consecutive
    /// threads read neighbouring sites of one channel plane rather than planes H·W apart.</summary>
    public static void Gather<T>(Index1D i, ArrayView1D<T, Stride1D.Dense> x, ArrayView1D<int, Stride1D.Dense> sites,
        ArrayView1D<T, Stride1D.Dense> rows, SparseMapArgs a, int channelMajor) where T : unmanaged
    {
        int r, c;
        if (channelMajor != 0) { c = i / a.Count; r = i - c * a.Count; }
        else { r = i / a.C; c = i - r * a.C; }
        int site = sites[a.SitesOff + r], hw = a.H * a.W;
        int b = site / hw, rem = site - b * hw, y = rem / a.W, xx = rem - y * a.W;
        rows[a.RowsOff + r * a.C + c] = x[a.Off + b * a.SN + c * a.SC + y * a.SH + xx * a.SW];
    }

    /// <summary>Fresh dense map from rows: thread i is element i of the output in memory order (NCHW, or NHWC when
    /// <paramref name="channelsLast"/> != 0), so stores are coalesced; a masked site (RowOf −1) gets 0.</summary>
    public static void Scatter<T>(Index1D i, ArrayView1D<T, Stride1D.Dense> rows, ArrayView1D<int, Stride1D.Dense> rowOf,
        ArrayView1D<T, Stride1D.Dense> dst, SparseMapArgs a, int channelsLast) where T : unmanaged
    {
        int c, site;
        if (channelsLast != 0)
        {
            site = i / a.C;
            c = i - site * a.C;
        }
        else
        {
            int hw = a.H * a.W, chw = a.C * hw;
            int b = i / chw, rem = i - b * chw;
            c = rem / hw;
            site = b * hw + (rem - c * hw);
        }
        int row = rowOf[a.RowOfOff + site];
        dst[a.Off + i] = row >= 0 ? rows[a.RowsOff + row * a.C + c] : default;
    }

    /// <summary>The rows convolution of <see cref="SparseRowsArgs"/>, one thread per output element (r, o): the depthwise
    /// kernel (KC = NG = 1: a T-term dot product per element) and the fallback for narrow groups.</summary>
    public static void RowsConv<T, TE>(Index1D i, ArrayView1D<T, Stride1D.Dense> src, ArrayView1D<int, Stride1D.Dense> map,
        ArrayView1D<T, Stride1D.Dense> w, ArrayView1D<T, Stride1D.Dense> bias, ArrayView1D<T, Stride1D.Dense> dst, SparseRowsArgs a)
        where T : unmanaged where TE : struct, IElement<T>
    {
        var e = default(TE);
        int r = i / a.DstC, o = i - r * a.DstC;
        int g = o / a.NG, n = o - g * a.NG;
        T acc = e.FromLong(0);
        int wBase = a.WOff + g * a.WGroup + n * a.WN;
        for (int t = 0; t < a.Taps; t++)
        {
            int j = a.Identity != 0 ? r : map[a.MapOff + r * a.Taps + t];
            if (j < 0) continue;
            int sBase = a.SrcOff + j * a.SrcC + g * a.KC, wt = wBase + t * a.WT;
            for (int kc = 0; kc < a.KC; kc++) acc = e.Add(acc, e.Mul(src[sBase + kc], w[wt + kc * a.WK]));
        }
        if (a.HasBias != 0) acc = e.Add(acc, bias[a.BOff + o]);
        dst[a.DstOff + r * a.DstC + o] = acc;
    }

    /// <summary>Partial p of output q (thread i = p·Q + q) over rows [p·Chunk, (p+1)·Chunk): q &lt; O·Cg·Taps is the weight
    /// element (t, cl, o) with o fastest (consecutive threads read consecutive channels of one row), the rest the bias.</summary>
    public static void WeightPartial<T, TE>(Index1D i, ArrayView1D<T, Stride1D.Dense> x, ArrayView1D<int, Stride1D.Dense> map,
        ArrayView1D<T, Stride1D.Dense> dy, ArrayView1D<T, Stride1D.Dense> partial, SparseWeightArgs a)
        where T : unmanaged where TE : struct, IElement<T>
    {
        var e = default(TE);
        int qw = a.NeedW != 0 ? a.O * a.Cg * a.Taps : 0, q0 = qw + (a.NeedB != 0 ? a.O : 0);
        int p = i / q0, q = i - p * q0;
        int r0 = p * a.Chunk, r1 = r0 + a.Chunk < a.Rows ? r0 + a.Chunk : a.Rows;
        T acc = e.FromLong(0);
        if (q < qw)
        {
            int o = q % a.O, rest = q / a.O, cl = rest % a.Cg, t = rest / a.Cg;
            int xc = a.XOff + (o / a.Og) * a.Cg + cl;
            for (int r = r0; r < r1; r++)
            {
                int j = a.Identity != 0 ? r : map[a.MapOff + r * a.Taps + t];
                if (j >= 0) acc = e.Add(acc, e.Mul(x[xc + j * a.C], dy[a.DyOff + r * a.O + o]));
            }
        }
        else
        {
            int o = q - qw;
            for (int r = r0; r < r1; r++) acc = e.Add(acc, dy[a.DyOff + r * a.O + o]);
        }
        partial[i] = acc;
    }

    /// <summary>Adds the Parts partials of one output in ascending order and writes dW (O, Cg, KH, KW contiguous) or db.
    /// Simple partials: thread q as in <see cref="WeightPartial{T, TE}"/>; tiled partials
    /// (<see cref="SparseTiledKernels.WeightPartial{T, TE}"/>): thread q = (g·MRows + m)·Og + n, m = t·Cg + cl, m = Taps·Cg
    /// the bias.</summary>
    public static void WeightCombine<T, TE>(Index1D i, ArrayView1D<T, Stride1D.Dense> partial, ArrayView1D<T, Stride1D.Dense> dw,
        ArrayView1D<T, Stride1D.Dense> db, SparseWeightArgs a)
        where T : unmanaged where TE : struct, IElement<T>
    {
        var e = default(TE);
        T acc = e.FromLong(0);
        int tcg = a.Taps * a.Cg;
        if (a.Tiled != 0)
        {
            int n = i % a.Og, gm = i / a.Og, m = gm % a.MRows, g = gm / a.MRows;
            int stride = a.MRows * a.Og, first = (g * a.Parts * a.MRows + m) * a.Og + n;
            for (int p = 0; p < a.Parts; p++) acc = e.Add(acc, partial[first + p * stride]);
            int o = g * a.Og + n;
            if (m < tcg)
            {
                int t = m / a.Cg, cl = m - t * a.Cg;
                dw[(o * a.Cg + cl) * a.Taps + t] = acc;
            }
            else db[o] = acc;
            return;
        }
        int qw = a.NeedW != 0 ? a.O * tcg : 0, q0 = qw + (a.NeedB != 0 ? a.O : 0);
        for (int p = 0; p < a.Parts; p++) acc = e.Add(acc, partial[p * q0 + i]);
        if (i < qw)
        {
            int o = i % a.O, rest = i / a.O, cl = rest % a.Cg, t = rest / a.Cg;
            dw[(o * a.Cg + cl) * a.Taps + t] = acc;
        }
        else db[i - qw] = acc;
    }
}
