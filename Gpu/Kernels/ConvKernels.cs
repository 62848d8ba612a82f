using ILGPU;
using ILGPU.Runtime;

namespace Sparkle.Gpu.Kernels;

/// <summary>
/// Geometry and strides of one dense 2-D convolution (Conv2dParams semantics): input x (N, C, H, W), weight w
/// (O, C/groups, KH, KW), output y (N, O, OH, OW). Every operand is read and written through its own offset and
/// strides, so NCHW, channels-last and other views need no copy; each pass writes the operand it computes (y, x or w)
/// through that operand's strides.
/// </summary>
public struct ConvArgs
{
    public int N, C, H, W, O, OH, OW, KH, KW;
    public int SH, SW, PH, PW, DH, DW, Cg, Og;
    public int XOff, XsN, XsC, XsH, XsW;
    public int WOff, WsO, WsC, WsH, WsW;
    public int YOff, YsN, YsC, YsH, YsW;
    public int BOff, BS, HasBias;
    /// <summary>1: the written activation (y or x) is walked with the channel fastest (its channels-last memory order),
    /// so consecutive threads store to consecutive addresses; 0: NCHW order.</summary>
    public int ChannelsLast;
}

/// <summary>
/// Direct convolution kernels, one launch per pass (two for a split weight gradient): the im2col index is computed
/// where the operand is read, so no column buffer exists. Deterministic: no atomics, and every output sums its terms
/// in a fixed order that depends only on the geometry (the CPU kernels use another order, so results differ by
/// rounding only).
/// </summary>
public static class ConvKernels
{
    /// <summary>y = conv2d(x, w) + bias: one thread per output element, summing over its group's C/groups·KH·KW taps
    /// (taps in the padding are skipped, i.e. read as zero).</summary>
    public static void Forward<T, TE>(Index1D i, ArrayView1D<T, Stride1D.Dense> x, ArrayView1D<T, Stride1D.Dense> w,
        ArrayView1D<T, Stride1D.Dense> bias, ArrayView1D<T, Stride1D.Dense> y, ConvArgs a)
        where T : unmanaged where TE : struct, IElement<T>
    {
        var e = default(TE);
        int n, o, oh, ow;
        Split(i, a.O, a.OH, a.OW, a.ChannelsLast, out n, out o, out oh, out ow);
        int c0 = o / a.Og * a.Cg;
        int ih0 = oh * a.SH - a.PH, iw0 = ow * a.SW - a.PW;
        T acc = a.HasBias != 0 ? bias[a.BOff + o * a.BS] : e.FromDouble(0.0);
        int xn = a.XOff + n * a.XsN, wo = a.WOff + o * a.WsO;
        for (int c = 0; c < a.Cg; c++)
        {
            int xc = xn + (c0 + c) * a.XsC, wc = wo + c * a.WsC;
            for (int ky = 0; ky < a.KH; ky++)
            {
                int ih = ih0 + ky * a.DH;
                if (ih < 0 || ih >= a.H) continue;
                int xr = xc + ih * a.XsH, wr = wc + ky * a.WsH;
                for (int kx = 0; kx < a.KW; kx++)
                {
                    int iw = iw0 + kx * a.DW;
                    if (iw < 0 || iw >= a.W) continue;
                    acc = e.Add(acc, e.Mul(x[xr + iw * a.XsW], w[wr + kx * a.WsW]));
                }
            }
        }
        y[a.YOff + n * a.YsN + o * a.YsC + oh * a.YsH + ow * a.YsW] = acc;
    }

    /// <summary>dx = the input gradient of conv2d (also ConvTranspose2d's forward): one thread per input element,
    /// gathering dy over the (o, ky, kx) whose window reads it — an output row oh reads ih iff
    /// ih + PH − ky·DH = oh·SH with 0 &lt;= oh &lt; OH. Positions no output reads get 0.</summary>
    public static void BackwardInput<T, TE>(Index1D i, ArrayView1D<T, Stride1D.Dense> dy, ArrayView1D<T, Stride1D.Dense> w,
        ArrayView1D<T, Stride1D.Dense> dx, ConvArgs a)
        where T : unmanaged where TE : struct, IElement<T>
    {
        var e = default(TE);
        int n, c, ih, iw;
        Split(i, a.C, a.H, a.W, a.ChannelsLast, out n, out c, out ih, out iw);
        int g = c / a.Cg, cl = c - g * a.Cg;
        T acc = e.FromDouble(0.0);
        int yn = a.YOff + n * a.YsN;
        for (int ky = 0; ky < a.KH; ky++)
        {
            int th = ih + a.PH - ky * a.DH;
            if (th < 0) break;                                  // th only falls as ky grows
            int oh = th / a.SH;
            if (oh * a.SH != th || oh >= a.OH) continue;
            for (int kx = 0; kx < a.KW; kx++)
            {
                int tw = iw + a.PW - kx * a.DW;
                if (tw < 0) break;
                int ow = tw / a.SW;
                if (ow * a.SW != tw || ow >= a.OW) continue;
                int yp = yn + oh * a.YsH + ow * a.YsW;
                int wp = a.WOff + cl * a.WsC + ky * a.WsH + kx * a.WsW;
                for (int k = 0; k < a.Og; k++)
                {
                    int o = g * a.Og + k;
                    acc = e.Add(acc, e.Mul(dy[yp + o * a.YsC], w[wp + o * a.WsO]));
                }
            }
        }
        dx[a.XOff + n * a.XsN + c * a.XsC + ih * a.XsH + iw * a.XsW] = acc;
    }

    /// <summary>dw = sum over (n, oh, ow) of dy[n, o, oh, ow] · x[n, c, tap]: one thread per weight element and part.
    /// The reduction over the L = N·OH·OW positions runs in ascending order, split into chunks of
    /// <paramref name="chunk"/> positions; thread i handles weight element i % |w| (OIHW order) and chunk i / |w|.
    /// <paramref name="split"/> 0: one chunk (chunk >= L), written to dw through the weight strides; 1: written to the
    /// contiguous partial buffer (parts, |w|) for <see cref="FinishWeight"/>.</summary>
    public static void BackwardWeight<T, TE>(Index1D i, ArrayView1D<T, Stride1D.Dense> dy, ArrayView1D<T, Stride1D.Dense> x,
        ArrayView1D<T, Stride1D.Dense> dst, ConvArgs a, int chunk, int split)
        where T : unmanaged where TE : struct, IElement<T>
    {
        var e = default(TE);
        int wn = a.O * a.Cg * a.KH * a.KW;
        int part = i / wn, wi = i - part * wn;
        int kx = wi % a.KW, r = wi / a.KW;
        int ky = r % a.KH; r /= a.KH;
        int cl = r % a.Cg, o = r / a.Cg;
        int c = o / a.Og * a.Cg + cl;
        int dh = ky * a.DH - a.PH, dw = kx * a.DW - a.PW;
        int total = a.N * a.OH * a.OW;
        int l = part * chunk, end = l + chunk < total ? l + chunk : total;
        T acc = e.FromDouble(0.0);
        if (l < end)
        {
            // Walk (n, oh, ow) incrementally from the chunk's first position: no division per term.
            int ow = l % a.OW, t = l / a.OW;
            int oh = t % a.OH, n = t / a.OH;
            int yc = a.YOff + o * a.YsC, xc = a.XOff + c * a.XsC;
            for (; l < end; l++)
            {
                int ih = oh * a.SH + dh, iw = ow * a.SW + dw;
                if (ih >= 0 && ih < a.H && iw >= 0 && iw < a.W)
                    acc = e.Add(acc, e.Mul(dy[yc + n * a.YsN + oh * a.YsH + ow * a.YsW], x[xc + n * a.XsN + ih * a.XsH + iw * a.XsW]));
                if (++ow == a.OW)
                {
                    ow = 0;
                    if (++oh == a.OH) { oh = 0; n++; }
                }
            }
        }
        if (split != 0) dst[i] = acc;
        else dst[a.WOff + o * a.WsO + cl * a.WsC + ky * a.WsH + kx * a.WsW] = acc;
    }

    /// <summary>Second launch of a split weight gradient: dw[j] = sum of the parts' partials for weight element j, in
    /// ascending part order (deterministic).</summary>
    public static void FinishWeight<T, TE>(Index1D i, ArrayView1D<T, Stride1D.Dense> partials, ArrayView1D<T, Stride1D.Dense> dw,
        ConvArgs a, int parts)
        where T : unmanaged where TE : struct, IElement<T>
    {
        var e = default(TE);
        int wn = a.O * a.Cg * a.KH * a.KW;
        int kx = i % a.KW, r = i / a.KW;
        int ky = r % a.KH; r /= a.KH;
        int cl = r % a.Cg, o = r / a.Cg;
        T acc = partials[i];
        for (int p = 1; p < parts; p++) acc = e.Add(acc, partials[p * wn + i]);
        dw[a.WOff + o * a.WsO + cl * a.WsC + ky * a.WsH + kx * a.WsW] = acc;
    }

    /// <summary>A linear thread index as (n, channel, row, column), walking the written tensor in its memory order:
    /// NCHW (column fastest) or channels-last (channel fastest).</summary>
    private static void Split(int i, int ch, int rows, int cols, int channelsLast, out int n, out int c, out int r, out int q)
    {
        if (channelsLast != 0)
        {
            c = i % ch; int t = i / ch;
            q = t % cols; t /= cols;
            r = t % rows; n = t / rows;
        }
        else
        {
            q = i % cols; int t = i / cols;
            r = t % rows; t /= rows;
            c = t % ch; n = t / ch;
        }
    }
}
