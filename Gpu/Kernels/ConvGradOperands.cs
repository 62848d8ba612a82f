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

/// <summary>A of the input gradient: W_gᵀ[c, k] = w[g·Og + o, c, ky, kx] with k = (o, ky, kx), KW fastest
/// (M = C/groups, K = O/groups·KH·KW).</summary>
public struct ConvWeightTA<T> : IGemmOperand<T, ConvArgs> where T : unmanaged
{
    public readonly T Load(ArrayView1D<T, Stride1D.Dense> w, ConvArgs a, int g, int c, int k)
    {
        int khw = a.KH * a.KW;
        if (c >= a.Cg || k >= a.Og * khw) return default;
        int o = k / khw, r = k - o * khw;
        int ky = r / a.KW, kx = r - ky * a.KW;
        return w[a.WOff + (g * a.Og + o) * a.WsO + c * a.WsC + ky * a.WsH + kx * a.WsW];
    }
    // Unit-stride channels (a 1x1 OIHW weight) go across threads, else the taps (kx contiguous within a filter).
    public readonly bool ColumnFast(ConvArgs a) => a.WsC != 1;
}

/// <summary>B of the input gradient: taps(dY_g)[k, q] = dy[n, g·Og + o, oh, ow] for k = (o, ky, kx) and the input pixel
/// q = (n, ih, iw) (N = N·H·W), where th = ih + PH − ky·DH, oh = th / SH when th >= 0, th % SH == 0 and oh &lt; OH (same
/// for the width); else 0 (no output reads x at that tap).</summary>
public struct ConvGradTapsB<T> : IGemmOperand<T, ConvArgs> where T : unmanaged
{
    public readonly T Load(ArrayView1D<T, Stride1D.Dense> dy, ConvArgs a, int g, int k, int q)
    {
        int khw = a.KH * a.KW, hw = a.H * a.W;
        if (k >= a.Og * khw || q >= a.N * hw) return default;
        int o = k / khw, r = k - o * khw;
        int ky = r / a.KW, kx = r - ky * a.KW;
        int n = q / hw, s = q - n * hw;
        int ih = s / a.W, iw = s - ih * a.W;
        int th = ih + a.PH - ky * a.DH, tw = iw + a.PW - kx * a.DW;
        if (th < 0 || tw < 0) return default;
        int oh = th / a.SH, ow = tw / a.SW;
        if (oh * a.SH != th || ow * a.SW != tw || oh >= a.OH || ow >= a.OW) return default;
        return dy[a.YOff + n * a.YsN + (g * a.Og + o) * a.YsC + oh * a.YsH + ow * a.YsW];
    }
    public readonly bool ColumnFast(ConvArgs a) => a.YsW == 1 || a.YsC != 1;
}

/// <summary>The input gradient's output: dx[n, g·Cg + c, ih, iw] through x's strides.</summary>
public struct ConvInputGradStore<T> : IGemmStore<T, ConvArgs> where T : unmanaged
{
    public readonly void Store(ArrayView1D<T, Stride1D.Dense> dx, ArrayView1D<T, Stride1D.Dense> extra, ConvArgs a, int g, int c, int q, T value)
    {
        int hw = a.H * a.W;
        int n = q / hw, s = q - n * hw;
        int ih = s / a.W, iw = s - ih * a.W;
        dx[a.XOff + n * a.XsN + (g * a.Cg + c) * a.XsC + ih * a.XsH + iw * a.XsW] = value;
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
