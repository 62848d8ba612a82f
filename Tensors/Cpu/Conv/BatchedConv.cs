using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Sparkle.Tensors.Cpu.Gemm;

namespace Sparkle.Tensors.Cpu.Conv;

/// <summary>
/// Convolution as explicit im2col + <see cref="Blas.Gemm{T}"/> over the pixels of several images at once, for small
/// feature maps with many channels (docs/conv.md): there the per-image kernels stream the whole weight matrix once
/// per image (memory bound), while one GEMM over a chunk of images reuses each packed weight panel for all its
/// pixels. The images are cut into equal chunks whose column matrix fits <see cref="ColBudgetBytes"/> (a function of
/// the shape alone); the chunk's column matrix col[q, k] (q = pixel of the chunk, k = (c, kh, kw) or (kh, kw, c),
/// whichever the weight's strides make a uniform stride, so the weights are read in place) lives in a per-thread
/// buffer.
/// <list type="bullet">
/// <item>forward: Y[q, o] = col · Wᵀ (+ bias), stored straight into a channels-last output, else into a scratch
/// transposed into place per image;</item>
/// <item>input gradient: dcol = dY[q, o] · W, then col2im (zero, then add) per image;</item>
/// <item>weight gradient: dW[o, k] = Σ over chunks, in order, of dYᵀ · col.</item>
/// </list>
/// Im2col, gathers and col2im run over the pool by image (each element written by one item, in a fixed order); the
/// GEMM threads itself and is bit-identical for any thread count, so the results are too.
/// </summary>
internal static class BatchedConv<T> where T : unmanaged, INumber<T>
{
    /// <summary>Largest column matrix of one chunk (one image at least). 16 MB: up to 32 images of the SparK decoder's
    /// 768-channel 3x3 maps in one GEMM (the weights are streamed once per chunk).</summary>
    public const long ColBudgetBytes = 16L << 20;

    /// <summary>Images per chunk: the fewest equal chunks whose column matrices fit the budget.</summary>
    public static int ImagesPerChunk(ConvGeometry g)
    {
        long perImage = Math.Max(1L, (long)g.P * g.K * Unsafe.SizeOf<T>());
        long budget = BatchedChunks.BudgetOverride > 0 ? BatchedChunks.BudgetOverride : ColBudgetBytes;
        int max = (int)Math.Clamp(budget / perImage, 1, Math.Max(1, g.N));
        int chunks = (g.N + max - 1) / max;
        return (g.N + chunks - 1) / chunks;
    }

    public static void Forward(Act<T> x, WeightView<T> w, Vec<T>? bias, Act<T> y, ConvGeometry g)
    {
        int K = g.K, og = g.Og, cg = g.Cg, P = g.P;
        var wm = WeightMatrix(w, g, preferTapC: x.SC == 1, out bool tapC);
        int per = ImagesPerChunk(g);
        var col = ConvBuffers<T>.Col.GetArray(per * P * K, out int cs);
        int yq = 0;
        bool direct = y.SC == 1 && PixelStride(y, g.N, g.OH, g.OW, out yq) && yq >= og;
        T[] cm = []; int cmStart = 0;
        if (!direct) { cm = ConvBuffers<T>.Mat.GetArray(per * P * og, out cmStart); yq = og; }
        for (int gi = 0; gi < g.G; gi++)
            for (int n0 = 0; n0 < g.N; n0 += per)
            {
                int nc = Math.Min(per, g.N - n0), m = nc * P, c0 = gi * cg, o0 = gi * og, first = n0;
                IntraOpPool.For(nc, i => Im2Col(x, first + i, c0, g, tapC, ref col[cs + i * P * K]));
                T[] c = direct ? y.Data : cm;
                int cOff = direct ? y.Offset + n0 * y.SN + o0 : cmStart;
                if (bias is { } bv)
                    for (int r = 0; r < m; r++)
                        for (int o = 0; o < og; o++) c[cOff + r * yq + o] = bv[o0 + o];
                Blas.Gemm(m, og, K, new StridedMatrix<T>(col, cs, K, 1), wm.At(o0, 0).Transposed, c, cOff, yq, accumulate: bias is not null);
                if (!direct)
                    IntraOpPool.For(nc, i => FromPixelMatrix(cm, cmStart + i * P * og, og, y, first + i, o0, g.OH, g.OW));
            }
    }

    public static void BackwardInput(Act<T> dy, WeightView<T> w, Act<T> dx, ConvGeometry g)
    {
        int K = g.K, og = g.Og, cg = g.Cg, P = g.P;
        var wm = WeightMatrix(w, g, preferTapC: dx.SC == 1, out bool tapC);
        int per = ImagesPerChunk(g);
        var dcol = ConvBuffers<T>.Col.GetArray(per * P * K, out int cs);
        int dq = 0;
        bool direct = dy.SC == 1 && PixelStride(dy, g.N, g.OH, g.OW, out dq);
        T[] am = []; int amStart = 0;
        if (!direct) { am = ConvBuffers<T>.Mat.GetArray(per * P * og, out amStart); dq = og; }
        for (int gi = 0; gi < g.G; gi++)
            for (int n0 = 0; n0 < g.N; n0 += per)
            {
                int nc = Math.Min(per, g.N - n0), m = nc * P, c0 = gi * cg, o0 = gi * og, first = n0;
                StridedMatrix<T> a;
                if (direct) a = new(dy.Data, dy.Offset + n0 * dy.SN + o0, dq, 1);
                else
                {
                    IntraOpPool.For(nc, i => ToPixelMatrix(dy, first + i, o0, og, g.OH, g.OW, am, amStart + i * P * og));
                    a = new(am, amStart, og, 1);
                }
                Blas.Gemm(m, K, og, a, wm.At(o0, 0), dcol, cs, K, accumulate: false);
                IntraOpPool.For(nc, i => Col2Im(ref dcol[cs + i * P * K], dx, first + i, c0, g, tapC));
            }
    }

    public static void BackwardWeight(Act<T> dy, Act<T> x, Act<T> dw, ConvGeometry g)
    {
        int K = g.K, og = g.Og, cg = g.Cg, P = g.P;
        // The k order: the one in which dw is a plain row-major matrix (written in place), else the input's.
        bool direct;
        bool tapC;
        int ldc;
        var dwv = new WeightView<T>(dw.Data, dw.Offset, dw.SN, dw.SC, dw.SH, dw.SW, g.KH, g.KW);
        if (KStride(dwv, g, tapC: x.SC == 1, out int s) && s == 1 && dw.SN >= K) { direct = true; tapC = x.SC == 1; }
        else if (KStride(dwv, g, tapC: x.SC != 1, out s) && s == 1 && dw.SN >= K) { direct = true; tapC = x.SC != 1; }
        else { direct = false; tapC = x.SC == 1; }
        T[] c; int cBase;
        if (direct) { c = dw.Data; cBase = dw.Offset; ldc = dw.SN; }
        else { c = ConvBuffers<T>.Partials.GetArray(g.O * K, out cBase); ldc = K; }
        int per = ImagesPerChunk(g);
        var col = ConvBuffers<T>.Col.GetArray(per * P * K, out int cs);
        bool dyDirect = PixelStride(dy, g.N, g.OH, g.OW, out int dq);
        T[] am = []; int amStart = 0;
        if (!dyDirect) am = ConvBuffers<T>.Mat.GetArray(per * P * og, out amStart);
        for (int gi = 0; gi < g.G; gi++)
            for (int n0 = 0; n0 < g.N; n0 += per)
            {
                int nc = Math.Min(per, g.N - n0), m = nc * P, c0 = gi * cg, o0 = gi * og, first = n0;
                StridedMatrix<T> a;
                if (dyDirect)
                {
                    IntraOpPool.For(nc, i => Im2Col(x, first + i, c0, g, tapC, ref col[cs + i * P * K]));
                    a = new(dy.Data, dy.Offset + n0 * dy.SN + o0 * dy.SC, dy.SC, dq);
                }
                else
                {
                    IntraOpPool.For(nc, i =>
                    {
                        Im2Col(x, first + i, c0, g, tapC, ref col[cs + i * P * K]);
                        ToPixelMatrix(dy, first + i, o0, og, g.OH, g.OW, am, amStart + i * P * og);
                    });
                    a = new(am, amStart, 1, og);
                }
                Blas.Gemm(og, K, m, a, new StridedMatrix<T>(col, cs, K, 1), c, cBase + o0 * ldc, ldc, accumulate: n0 > 0);
            }
        if (direct) return;
        IntraOpPool.ForRange(g.O, 4, (o0, o1) =>
        {
            for (int o = o0; o < o1; o++)
                for (int k = 0; k < K; k++)
                {
                    int ci = tapC ? k % cg : k / g.Taps, t = tapC ? k / cg : k % g.Taps;
                    dw.Data[dw.Offset + o * dw.SN + ci * dw.SC + t / g.KW * dw.SH + t % g.KW * dw.SW] = c[cBase + o * K + k];
                }
        });
    }

    // ---- the weight matrix W[o, k] ----

    /// <summary>W as an O x K matrix read in place when its strides allow one of the two k orders (the preferred one
    /// first), else copied into the calling thread's weight buffer in the preferred order.</summary>
    private static StridedMatrix<T> WeightMatrix(WeightView<T> w, ConvGeometry g, bool preferTapC, out bool tapC)
    {
        tapC = preferTapC;
        if (KStride(w, g, tapC, out int s)) return new(w.Data, w.Offset, w.SO, s);
        if (KStride(w, g, !tapC, out s)) { tapC = !tapC; return new(w.Data, w.Offset, w.SO, s); }
        int K = g.K, cg = g.Cg;
        var buf = ConvBuffers<T>.Weights.GetArray(g.O * K, out int start);
        for (int o = 0; o < g.O; o++)
            for (int k = 0; k < K; k++)
                buf[start + o * K + k] = tapC ? w.At(o, k % cg, k / cg) : w.At(o, k / g.Taps, k % g.Taps);
        return new(buf, start, K, 1);
    }

    /// <summary>Whether the (c, kh, kw) or (kh, kw, c) index of a weight is one uniform stride (returned in s).</summary>
    private static bool KStride(WeightView<T> w, ConvGeometry g, bool tapC, out int s)
    {
        ReadOnlySpan<(int Size, int Stride)> dims = tapC
            ? [(g.KH, w.SH), (g.KW, w.SW), (g.Cg, w.SC)]
            : [(g.Cg, w.SC), (g.KH, w.SH), (g.KW, w.SW)];
        return Uniform(dims, out s);
    }

    /// <summary>Whether the pixels (n, h, w) of an activation are one uniform stride apart (returned in s).</summary>
    private static bool PixelStride(Act<T> a, int n, int h, int w, out int s)
        => Uniform([(n, a.SN), (h, a.SH), (w, a.SW)], out s);

    /// <summary>Dimensions (outer to inner) that flatten to one index with a constant stride; size-1 dimensions are free.</summary>
    private static bool Uniform(ReadOnlySpan<(int Size, int Stride)> dims, out int s)
    {
        s = 1;
        long expect = -1;
        for (int i = dims.Length - 1; i >= 0; i--)
        {
            var (size, stride) = dims[i];
            if (size == 1) continue;
            if (expect < 0) { s = stride; expect = (long)stride * size; continue; }
            if (stride != expect) return false;
            expect *= size;
        }
        return s >= 0;
    }

    // ---- per-image data movement ----

    /// <summary>Rows q = (oh, ow) of image n's column matrix: col[q·K + k] = x[n, c0 + c, oh·SH − PH + kh·DH,
    /// ow·SW − PW + kw·DW] (0 outside the image), k = (kh, kw, c) or (c, kh, kw).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Im2Col(Act<T> x, int n, int c0, ConvGeometry g, bool tapC, ref T dst)
    {
        int K = g.K, cg = g.Cg;
        ref T xs = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(x.Data), x.Offset + n * x.SN + c0 * x.SC);
        for (int oh = 0; oh < g.OH; oh++)
            for (int ow = 0; ow < g.OW; ow++)
            {
                ref T row = ref Unsafe.Add(ref dst, (nint)(oh * g.OW + ow) * K);
                int h0 = oh * g.SH - g.PH, w0 = ow * g.SW - g.PW;
                if (tapC)
                {
                    for (int kh = 0; kh < g.KH; kh++)
                    {
                        int ih = h0 + kh * g.DH;
                        ref T d = ref Unsafe.Add(ref row, kh * g.KW * cg);
                        if ((uint)ih >= (uint)g.H) { Runs.Clear(ref d, g.KW * cg); continue; }
                        for (int kw = 0; kw < g.KW; kw++)
                        {
                            int iw = w0 + kw * g.DW;
                            ref T dd = ref Unsafe.Add(ref d, kw * cg);
                            if ((uint)iw >= (uint)g.W) { Runs.Clear(ref dd, cg); continue; }
                            ref T src = ref Unsafe.Add(ref xs, ih * x.SH + iw * x.SW);
                            if (x.SC == 1) Runs.Copy(ref src, ref dd, cg);
                            else for (int c = 0; c < cg; c++) Unsafe.Add(ref dd, c) = Unsafe.Add(ref src, c * x.SC);
                        }
                    }
                    continue;
                }
                int k = 0;
                for (int c = 0; c < cg; c++)
                {
                    ref T plane = ref Unsafe.Add(ref xs, c * x.SC);
                    for (int kh = 0; kh < g.KH; kh++)
                    {
                        int ih = h0 + kh * g.DH;
                        if ((uint)ih >= (uint)g.H)
                        {
                            for (int kw = 0; kw < g.KW; kw++) Unsafe.Add(ref row, k++) = default;
                            continue;
                        }
                        ref T line = ref Unsafe.Add(ref plane, ih * x.SH);
                        for (int kw = 0; kw < g.KW; kw++)
                        {
                            int iw = w0 + kw * g.DW;
                            Unsafe.Add(ref row, k++) = (uint)iw < (uint)g.W ? Unsafe.Add(ref line, iw * x.SW) : default;
                        }
                    }
                }
            }
    }

    /// <summary>Image n's input gradient (channels c0..c0 + Cg) from its rows of the column matrix: zeroed, then every
    /// column added where its tap reads (the inverse of <see cref="Im2Col"/>), pixels and taps in order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Col2Im(ref T src, Act<T> dx, int n, int c0, ConvGeometry g, bool tapC)
    {
        int K = g.K, cg = g.Cg;
        ref T xs = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(dx.Data), dx.Offset + n * dx.SN + c0 * dx.SC);
        for (int ih = 0; ih < g.H; ih++)
            for (int iw = 0; iw < g.W; iw++)
            {
                ref T d = ref Unsafe.Add(ref xs, ih * dx.SH + iw * dx.SW);
                if (dx.SC == 1) Runs.Clear(ref d, cg);
                else for (int c = 0; c < cg; c++) Unsafe.Add(ref d, c * dx.SC) = default;
            }
        for (int oh = 0; oh < g.OH; oh++)
            for (int ow = 0; ow < g.OW; ow++)
            {
                ref T row = ref Unsafe.Add(ref src, (nint)(oh * g.OW + ow) * K);
                int h0 = oh * g.SH - g.PH, w0 = ow * g.SW - g.PW;
                if (tapC)
                {
                    for (int kh = 0; kh < g.KH; kh++)
                    {
                        int ih = h0 + kh * g.DH;
                        if ((uint)ih >= (uint)g.H) continue;
                        for (int kw = 0; kw < g.KW; kw++)
                        {
                            int iw = w0 + kw * g.DW;
                            if ((uint)iw >= (uint)g.W) continue;
                            ref T s = ref Unsafe.Add(ref row, (kh * g.KW + kw) * cg);
                            ref T d = ref Unsafe.Add(ref xs, ih * dx.SH + iw * dx.SW);
                            if (dx.SC == 1) Runs.Add(ref s, ref d, cg);
                            else
                                for (int c = 0; c < cg; c++)
                                    Unsafe.Add(ref d, c * dx.SC) = ScalarOps.Add(Unsafe.Add(ref d, c * dx.SC), Unsafe.Add(ref s, c));
                        }
                    }
                    continue;
                }
                int k = 0;
                for (int c = 0; c < cg; c++)
                {
                    ref T plane = ref Unsafe.Add(ref xs, c * dx.SC);
                    for (int kh = 0; kh < g.KH; kh++)
                    {
                        int ih = h0 + kh * g.DH;
                        if ((uint)ih >= (uint)g.H) { k += g.KW; continue; }
                        ref T line = ref Unsafe.Add(ref plane, ih * dx.SH);
                        for (int kw = 0; kw < g.KW; kw++, k++)
                        {
                            int iw = w0 + kw * g.DW;
                            if ((uint)iw >= (uint)g.W) continue;
                            ref T d = ref Unsafe.Add(ref line, iw * dx.SW);
                            d = ScalarOps.Add(d, Unsafe.Add(ref row, k));
                        }
                    }
                }
            }
    }

    /// <summary>dst[start + p·ch + c] = a[n, c0 + c, p / w, p % w]: image n's pixels as rows of a matrix.</summary>
    private static void ToPixelMatrix(Act<T> a, int n, int c0, int ch, int h, int w, T[] dst, int start)
    {
        ref T s = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(a.Data), a.Offset + n * a.SN + c0 * a.SC);
        ref T d = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(dst), start);
        if (PixelsAdjacent(a, h, w))
        {
            Transpose.Run(ref s, a.SC, ref d, ch, ch, h * w);
            return;
        }
        for (int p = 0; p < h * w; p++)
        {
            ref T px = ref Unsafe.Add(ref s, p / w * a.SH + p % w * a.SW);
            for (int c = 0; c < ch; c++) Unsafe.Add(ref d, p * ch + c) = Unsafe.Add(ref px, c * a.SC);
        }
    }

    /// <summary>Pixel p of an image at offset p (channels-first planes without gaps).</summary>
    private static bool PixelsAdjacent(Act<T> a, int h, int w) => (w == 1 || a.SW == 1) && (h == 1 || a.SH == w);

    /// <summary>The inverse of <see cref="ToPixelMatrix"/>: a[n, c0 + c, p / w, p % w] = src[start + p·ch + c].</summary>
    private static void FromPixelMatrix(T[] src, int start, int ch, Act<T> a, int n, int c0, int h, int w)
    {
        ref T s = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(src), start);
        ref T d = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(a.Data), a.Offset + n * a.SN + c0 * a.SC);
        if (PixelsAdjacent(a, h, w))
        {
            Transpose.Run(ref s, ch, ref d, a.SC, h * w, ch);
            return;
        }
        for (int p = 0; p < h * w; p++)
        {
            ref T px = ref Unsafe.Add(ref d, p / w * a.SH + p % w * a.SW);
            for (int c = 0; c < ch; c++) Unsafe.Add(ref px, c * a.SC) = Unsafe.Add(ref s, p * ch + c);
        }
    }
}

/// <summary>Tests shrink the chunk budget (calling thread) to cut small batches into several chunks.</summary>
internal static class BatchedChunks
{
    [ThreadStatic] internal static long BudgetOverride;
}
