using Sparkle.Tensors;

namespace Sparkle.Tests.Nn;

/// <summary>One random convolution configuration (sizes per group, so every groups value is valid).</summary>
public sealed record ConvCase(int N, int G, int Cg, int Og, int H, int W, int KH, int KW, int SH, int SW, int PH, int PW, int DH, int DW, bool Bias)
{
    public int C => G * Cg;
    public int O => G * Og;
    public int OH => (H + 2 * PH - DH * (KH - 1) - 1) / SH + 1;
    public int OW => (W + 2 * PW - DW * (KW - 1) - 1) / SW + 1;
    public int[] XShape => [N, C, H, W];
    public int[] WShape => [O, Cg, KH, KW];
    public int[] YShape => [N, O, OH, OW];

    public override string ToString() => $"x({N},{C},{H},{W}) w({O},{Cg},{KH},{KW}) s=({SH},{SW}) p=({PH},{PW}) d=({DH},{DW}) g={G} bias={Bias}";

    /// <summary>A random case with an output of at least 1x1. <paramref name="depthwise"/>: groups = channels.</summary>
    public static ConvCase Random(Random rng, int maxCg = 4, int maxHW = 8, bool depthwise = false)
    {
        int g = depthwise ? rng.Next(2, 7) : rng.Next(1, 4);
        int cg = depthwise ? 1 : rng.Next(1, maxCg + 1), og = depthwise ? rng.Next(1, 3) : rng.Next(1, maxCg + 1);
        int kh = rng.Next(1, 5), kw = rng.Next(1, 5), dh = rng.Next(1, 3), dw = rng.Next(1, 3);
        int ph = rng.Next(0, 3), pw = rng.Next(0, 3), sh = rng.Next(1, 4), sw = rng.Next(1, 4);
        int h = Math.Max(1, dh * (kh - 1) + 1 - 2 * ph) + rng.Next(0, maxHW);
        int w = Math.Max(1, dw * (kw - 1) + 1 - 2 * pw) + rng.Next(0, maxHW);
        return new ConvCase(rng.Next(1, 4), g, cg, og, h, w, kh, kw, sh, sw, ph, pw, dh, dw, rng.Next(2) == 0);
    }
}

/// <summary>Naive float64 convolution loops, written from the definition (independent of the kernels).</summary>
public static class ConvReference
{
    /// <summary>y[n, o, oh, ow] = b[o] + Σ x[n, g·Cg + c, oh·s − p + kh·d, ow·s − p + kw·d] · w[o, c, kh, kw].</summary>
    public static double[] Forward(ConvCase k, double[] x, double[] w, double[]? b)
    {
        var y = new double[k.N * k.O * k.OH * k.OW];
        for (int n = 0; n < k.N; n++)
            for (int o = 0; o < k.O; o++)
                for (int oh = 0; oh < k.OH; oh++)
                    for (int ow = 0; ow < k.OW; ow++)
                    {
                        double s = b?[o] ?? 0;
                        int g = o / k.Og;
                        for (int c = 0; c < k.Cg; c++)
                            for (int kh = 0; kh < k.KH; kh++)
                                for (int kw = 0; kw < k.KW; kw++)
                                {
                                    int ih = oh * k.SH - k.PH + kh * k.DH, iw = ow * k.SW - k.PW + kw * k.DW;
                                    if (ih < 0 || ih >= k.H || iw < 0 || iw >= k.W) continue;
                                    s += x[((n * k.C + g * k.Cg + c) * k.H + ih) * k.W + iw] * w[((o * k.Cg + c) * k.KH + kh) * k.KW + kw];
                                }
                        y[((n * k.O + o) * k.OH + oh) * k.OW + ow] = s;
                    }
        return y;
    }

    /// <summary>(dx, dw, db) of L = Σ y·dy, by distributing each output's dy over the products that made it.</summary>
    public static (double[] Dx, double[] Dw, double[] Db) Backward(ConvCase k, double[] x, double[] w, double[] dy)
    {
        var dx = new double[x.Length];
        var dw = new double[w.Length];
        var db = new double[k.O];
        for (int n = 0; n < k.N; n++)
            for (int o = 0; o < k.O; o++)
                for (int oh = 0; oh < k.OH; oh++)
                    for (int ow = 0; ow < k.OW; ow++)
                    {
                        double gy = dy[((n * k.O + o) * k.OH + oh) * k.OW + ow];
                        db[o] += gy;
                        int g = o / k.Og;
                        for (int c = 0; c < k.Cg; c++)
                            for (int kh = 0; kh < k.KH; kh++)
                                for (int kw = 0; kw < k.KW; kw++)
                                {
                                    int ih = oh * k.SH - k.PH + kh * k.DH, iw = ow * k.SW - k.PW + kw * k.DW;
                                    if (ih < 0 || ih >= k.H || iw < 0 || iw >= k.W) continue;
                                    int xi = ((n * k.C + g * k.Cg + c) * k.H + ih) * k.W + iw, wi = ((o * k.Cg + c) * k.KH + kh) * k.KW + kw;
                                    dx[xi] += gy * w[wi];
                                    dw[wi] += gy * x[xi];
                                }
                    }
        return (dx, dw, db);
    }

    /// <summary>conv_transpose2d as a scatter: x[n, ci, i, j]·w[ci, co, kh, kw] lands on y[n, g·CoG + co, i·s − p + kh·d, j·s − p + kw·d].
    /// Also returns the gradients of L = Σ y·gy, from the same scatter read backwards.</summary>
    public static (double[] Y, double[] Dx, double[] Dw, double[] Db) Transposed(int n, int cin, int h, int w, int coutG, int groups, int kh, int kw,
        int s, int p, int op, int d, double[] x, double[] wt, double[]? b, double[] gy)
    {
        int cinG = cin / groups, cout = coutG * groups;
        int ho = (h - 1) * s - 2 * p + d * (kh - 1) + op + 1, wo = (w - 1) * s - 2 * p + d * (kw - 1) + op + 1;
        var y = new double[n * cout * ho * wo];
        var dx = new double[x.Length];
        var dw = new double[wt.Length];
        var db = new double[cout];
        for (int b0 = 0; b0 < n; b0++)
            for (int co = 0; co < cout; co++)
                for (int i = 0; i < ho; i++)
                    for (int j = 0; j < wo; j++)
                    {
                        int yi = ((b0 * cout + co) * ho + i) * wo + j;
                        y[yi] = b?[co] ?? 0;
                        db[co] += gy[yi];
                    }
        for (int b0 = 0; b0 < n; b0++)
            for (int ci = 0; ci < cin; ci++)
            {
                int g = ci / cinG;
                for (int i = 0; i < h; i++)
                    for (int j = 0; j < w; j++)
                        for (int col = 0; col < coutG; col++)
                            for (int a = 0; a < kh; a++)
                                for (int c = 0; c < kw; c++)
                                {
                                    int oi = i * s - p + a * d, oj = j * s - p + c * d;
                                    if (oi < 0 || oi >= ho || oj < 0 || oj >= wo) continue;
                                    int co = g * coutG + col;
                                    int xi = ((b0 * cin + ci) * h + i) * w + j, wi = ((ci * coutG + col) * kh + a) * kw + c, yi = ((b0 * cout + co) * ho + oi) * wo + oj;
                                    y[yi] += x[xi] * wt[wi];
                                    dx[xi] += gy[yi] * wt[wi];
                                    dw[wi] += gy[yi] * x[xi];
                                }
            }
        return (y, dx, dw, db);
    }
}
