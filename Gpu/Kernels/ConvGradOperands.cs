using ILGPU;
using ILGPU.Runtime;

namespace Sparkle.Gpu.Kernels;

/// <summary>The weight gradient's GEMM: the convolution plus its split-K partition. Grid z = g·Parts + part; part p
/// reduces positions [p·Chunk, (p+1)·Chunk) of the N·OH·OW; Parts = 1 writes dw through its strides, more write the
/// contiguous partials (Parts, |w|) in OIHW order for <see cref="ConvKernels.FinishWeight{T, TE}"/>.</summary>
public struct ConvWeightGradArgs
{
    public ConvArgs C;
    public int Parts, Chunk;
    /// <summary>1: the GEMM's columns are (ky, kx, c) with the channel fastest (a channels-last x: consecutive columns are
    /// consecutive addresses, so they go across threads); 0: (c, ky, kx), and the positions go across threads.</summary>
    public int TapMajor;
}

/// <summary>
/// The input gradient split into stride phases: the input pixels with ih % SH = rh and iw % SW = rw are read only by the
/// taps ky = ky0 + SH·t (ky0 = (rh + PH) % SH) and kx = kx0 + SW·u, so each phase is its own GEMM over just those taps
/// (a stride-2 pass does a quarter of the multiply-adds of the all-taps GEMM, whose other taps are zero). Grid z =
/// g·SH·SW + rh·SW + rw. Exact when SH = 1 or DH = 1 (and the same for the width): then th = ih + PH − ky·DH is a
/// multiple of SH for every such tap; the planner runs the direct kernel otherwise.
/// </summary>
public static class ConvPhase
{
    /// <summary>Group, phase and that phase's taps (first tap and count per axis) of grid z.</summary>
    public static void Of(ConvArgs a, int z, out int g, out int rh, out int rw, out int ky0, out int kx0, out int nky, out int nkx)
    {
        int phases = a.SH * a.SW;
        g = z / phases;
        int ph = z - g * phases;
        rh = ph / a.SW; rw = ph - rh * a.SW;
        ky0 = (rh + a.PH) % a.SH; kx0 = (rw + a.PW) % a.SW;
        nky = a.KH > ky0 ? (a.KH - ky0 + a.SH - 1) / a.SH : 0;
        nkx = a.KW > kx0 ? (a.KW - kx0 + a.SW - 1) / a.SW : 0;
    }

    /// <summary>Input rows (or columns) of phase r: r, r + S, ... below the size.</summary>
    public static int Count(int size, int r, int s) => size > r ? (size - r + s - 1) / s : 0;
}

/// <summary>A of the input gradient, one stride phase: W_gᵀ[c, k] = w[g·Og + o, c, ky, kx] with k = (o, t, u), u
/// fastest, ky = ky0 + SH·t, kx = kx0 + SW·u (M = C/groups, K = O/groups·taps of the phase).</summary>
public struct ConvWeightTA<T> : IGemmOperand<T, ConvArgs> where T : unmanaged
{
    public readonly T Load(ArrayView1D<T, Stride1D.Dense> w, ConvArgs a, int z, int c, int k)
    {
        ConvPhase.Of(a, z, out int g, out _, out _, out int ky0, out int kx0, out int nky, out int nkx);
        int taps = nky * nkx;
        if (c >= a.Cg || k >= a.Og * taps) return default;
        int o = k / taps, r = k - o * taps;
        int t = r / nkx, u = r - t * nkx;
        return w[a.WOff + (g * a.Og + o) * a.WsO + c * a.WsC + (ky0 + t * a.SH) * a.WsH + (kx0 + u * a.SW) * a.WsW];
    }
    // Unit-stride channels (a 1x1 OIHW weight) go across threads, else the taps (kx within a filter).
    public readonly bool ColumnFast(ConvArgs a) => a.WsC != 1;
}

/// <summary>B of the input gradient, one stride phase: taps(dY_g)[k, q] = dy[n, g·Og + o, oh, ow] for k = (o, t, u) and
/// the phase's input pixel q = (n, i, j), ih = rh + SH·i, iw = rw + SW·j; oh = (ih + PH − ky·DH) / SH (exact in a
/// phase), 0 where oh or ow falls outside the output.</summary>
public struct ConvGradTapsB<T> : IGemmOperand<T, ConvArgs> where T : unmanaged
{
    public readonly T Load(ArrayView1D<T, Stride1D.Dense> dy, ConvArgs a, int z, int k, int q)
    {
        ConvPhase.Of(a, z, out int g, out int rh, out int rw, out int ky0, out int kx0, out int nky, out int nkx);
        int taps = nky * nkx, hq = ConvPhase.Count(a.H, rh, a.SH), wq = ConvPhase.Count(a.W, rw, a.SW), hw = hq * wq;
        if (k >= a.Og * taps || q >= a.N * hw) return default;
        int o = k / taps, r = k - o * taps;
        int t = r / nkx, u = r - t * nkx;
        int n = q / hw, s = q - n * hw;
        int i = s / wq, j = s - i * wq;
        int th = rh + i * a.SH + a.PH - (ky0 + t * a.SH) * a.DH, tw = rw + j * a.SW + a.PW - (kx0 + u * a.SW) * a.DW;
        if (th < 0 || tw < 0) return default;
        int oh = th / a.SH, ow = tw / a.SW;
        if (oh >= a.OH || ow >= a.OW) return default;
        return dy[a.YOff + n * a.YsN + (g * a.Og + o) * a.YsC + oh * a.YsH + ow * a.YsW];
    }
    public readonly bool ColumnFast(ConvArgs a) => a.YsW == 1 || a.YsC != 1;
}

/// <summary>The input gradient's output, one stride phase: dx[n, g·Cg + c, rh + SH·i, rw + SW·j] through x's strides.</summary>
public struct ConvInputGradStore<T> : IGemmStore<T, ConvArgs> where T : unmanaged
{
    public readonly void Store(ArrayView1D<T, Stride1D.Dense> dx, ArrayView1D<T, Stride1D.Dense> extra, ConvArgs a, int z, int c, int q, T value)
    {
        ConvPhase.Of(a, z, out int g, out int rh, out int rw, out _, out _, out _, out _);
        int hq = ConvPhase.Count(a.H, rh, a.SH), wq = ConvPhase.Count(a.W, rw, a.SW), hw = hq * wq;
        int n = q / hw, s = q - n * hw;
        int i = s / wq, j = s - i * wq;
        dx[a.XOff + n * a.XsN + (g * a.Cg + c) * a.XsC + (rh + i * a.SH) * a.XsH + (rw + j * a.SW) * a.XsW] = value;
    }
}

/// <summary>A of the weight gradient: dY_g[o, p] = dy[n, g·Og + o, oh, ow] over the positions p = (n, oh, ow)
/// (M = O/groups, K = N·OH·OW).</summary>
public struct ConvGradOutputA<T> : IGemmOperand<T, ConvWeightGradArgs> where T : unmanaged
{
    public readonly T Load(ArrayView1D<T, Stride1D.Dense> dy, ConvWeightGradArgs w, int z, int o, int p)
    {
        var a = w.C;
        int g = z / w.Parts, ohw = a.OH * a.OW;
        if (o >= a.Og || p >= a.N * ohw) return default;
        int n = p / ohw, s = p - n * ohw;
        int oh = s / a.OW, ow = s - oh * a.OW;
        return dy[a.YOff + n * a.YsN + (g * a.Og + o) * a.YsC + oh * a.YsH + ow * a.YsW];
    }
    public readonly bool ColumnFast(ConvWeightGradArgs w) => w.C.YsW == 1 || w.C.YsC != 1;
}

/// <summary>B of the weight gradient: im2col(X_g)ᵀ[p, j] = x[n, g·Cg + c, oh·SH − PH + ky·DH, ow·SW − PW + kx·DW] for the
/// position p = (n, oh, ow) and the weight column j (see <see cref="ConvWeightGradArgs.TapMajor"/>); 0 in the padding.</summary>
public struct ConvIm2ColTB<T> : IGemmOperand<T, ConvWeightGradArgs> where T : unmanaged
{
    public readonly T Load(ArrayView1D<T, Stride1D.Dense> x, ConvWeightGradArgs w, int z, int p, int j)
    {
        var a = w.C;
        int g = z / w.Parts, ohw = a.OH * a.OW;
        if (p >= a.N * ohw || j >= a.Cg * a.KH * a.KW) return default;
        ConvWeightColumn.Split(w, j, out int c, out int ky, out int kx);
        int n = p / ohw, s = p - n * ohw;
        int oh = s / a.OW, ow = s - oh * a.OW;
        int ih = oh * a.SH - a.PH + ky * a.DH, iw = ow * a.SW - a.PW + kx * a.DW;
        if (ih < 0 || ih >= a.H || iw < 0 || iw >= a.W) return default;
        return x[a.XOff + n * a.XsN + (g * a.Cg + c) * a.XsC + ih * a.XsH + iw * a.XsW];
    }
    public readonly bool ColumnFast(ConvWeightGradArgs w) => w.TapMajor != 0;
}

/// <summary>The weight gradient's output: dw[g·Og + o, c, ky, kx] through w's strides (one part), or the part's slice
/// of the contiguous OIHW partials.</summary>
public struct ConvWeightGradStore<T> : IGemmStore<T, ConvWeightGradArgs> where T : unmanaged
{
    public readonly void Store(ArrayView1D<T, Stride1D.Dense> dst, ArrayView1D<T, Stride1D.Dense> extra, ConvWeightGradArgs w, int z, int o, int j, T value)
    {
        var a = w.C;
        int g = z / w.Parts, part = z - g * w.Parts, oc = g * a.Og + o;
        ConvWeightColumn.Split(w, j, out int c, out int ky, out int kx);
        if (w.Parts > 1) dst[part * a.O * a.Cg * a.KH * a.KW + ((oc * a.Cg + c) * a.KH + ky) * a.KW + kx] = value;
        else dst[a.WOff + oc * a.WsO + c * a.WsC + ky * a.WsH + kx * a.WsW] = value;
    }
}

/// <summary>The weight gradient's column j as (c, ky, kx): channel-major (c, ky, kx) or tap-major (ky, kx, c).</summary>
internal static class ConvWeightColumn
{
    public static void Split(ConvWeightGradArgs w, int j, out int c, out int ky, out int kx)
    {
        var a = w.C;
        if (w.TapMajor != 0)
        {
            int t = j / a.Cg;
            c = j - t * a.Cg;
            ky = t / a.KW; kx = t - ky * a.KW;
        }
        else
        {
            int khw = a.KH * a.KW;
            c = j / khw;
            int r = j - c * khw;
            ky = r / a.KW; kx = r - ky * a.KW;
        }
    }
}
