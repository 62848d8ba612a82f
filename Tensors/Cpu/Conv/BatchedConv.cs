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
/// the shape alone); the chunk's column matrix col[q, k] (q = pixel of the chunk, k = (kh, kw, c)) lives in a
/// per-thread buffer. Its rows are runs of Cg adjacent channels, copied from a channels-last activation (a
/// channels-first image is first transposed into a per-thread scratch); the weights are read in place when their
/// strides make (kh, kw, c) one uniform stride (OHWI), else transposed once per call into that order.
/// <list type="bullet">
/// <item>forward: Y[q, o] = col · Wᵀ (+ bias), stored straight into a channels-last output, else into a scratch
/// transposed into place per image;</item>
/// <item>input gradient: dcol = dY[q, o] · W, then col2im (zero, then add; channels-first: into a channels-last
/// scratch transposed into place) per image — every k has a term, no zeros are multiplied, whatever the stride;</item>
/// <item>weight gradient: dW[o, k] = Σ over chunks, in order, of dYᵀ · col.</item>
/// </list>
/// Data movement runs over the pool by image (each element written by one item, in a fixed order); the GEMM threads
/// itself and is bit-identical for any thread count, so the results are too.
/// </summary>
internal static class BatchedConv<T> where T : unmanaged, INumber<T>
{
    /// <summary>Largest column matrix of one chunk (one image at least). 16 MB: up to 32 images of the SparK decoder's
    /// 768-channel 3x3 maps in one GEMM (the weights are streamed once per chunk).</summary>
    public const long ColBudgetBytes = 16L << 20;

    /// <summary>Images per chunk: the fewest equal chunks whose column matrices fit the budget.
    /// <paramref name="chunkBytes"/> (options: <see cref="CpuKernelOptions.ConvBatchedChunkBytes"/>) replaces the
    /// budget when positive.</summary>
    public static int ImagesPerChunk(ConvGeometry g, long chunkBytes = 0)
    {
        long perImage = Math.Max(1L, (long)g.P * g.K * Unsafe.SizeOf<T>());
        long budget = chunkBytes > 0 ? chunkBytes : ColBudgetBytes;
        int max = (int)Math.Clamp(budget / perImage, 1, Math.Max(1, g.N));
        int chunks = (g.N + max - 1) / max;
        return (g.N + chunks - 1) / chunks;
    }

    public static void Forward(Act<T> x, WeightView<T> w, Vec<T>? bias, Act<T> y, ConvGeometry g, CpuKernelOptions options)
    {
        int K = g.K, og = g.Og, cg = g.Cg, P = g.P;
        var wm = WeightMatrix(w, g);
        int per = ImagesPerChunk(g, options.ConvBatchedChunkBytes);
        var col = ConvBuffers<T>.Col.GetArray(per * P * K, out int cs);
        int yq = 0;
        bool direct = y.SC == 1 && PixelStride(y, g.N, g.OH, g.OW, out yq) && yq >= og;
        T[] cm = []; int cmStart = 0;
        if (!direct) { cm = ConvBuffers<T>.Mat.GetArray(per * P * og, out cmStart); yq = og; }
        for (int gi = 0; gi < g.G; gi++)
            for (int n0 = 0; n0 < g.N; n0 += per)
            {
                int nc = Math.Min(per, g.N - n0), m = nc * P, c0 = gi * cg, o0 = gi * og, first = n0;
                IntraOpPool.For(nc, i => Im2Col(x, first + i, c0, g, ref col[cs + i * P * K]));
                T[] c = direct ? y.Data : cm;
                int cOff = direct ? y.Offset + n0 * y.SN + o0 : cmStart;
                if (bias is { } bv)
                    for (int r = 0; r < m; r++)
                        for (int o = 0; o < og; o++) c[cOff + r * yq + o] = bv[o0 + o];
                Blas.Gemm(m, og, K, new StridedMatrix<T>(col, cs, K, 1), wm.At(o0, 0).Transposed, c, cOff, yq, accumulate: bias is not null, options.GemmKernel);
                if (!direct)
                    IntraOpPool.For(nc, i => FromPixelMatrix(cm, cmStart + i * P * og, og, y, first + i, o0, g.OH, g.OW));
            }
    }

    public static void BackwardInput(Act<T> dy, WeightView<T> w, Act<T> dx, ConvGeometry g, CpuKernelOptions options)
    {
        int K = g.K, og = g.Og, cg = g.Cg, P = g.P;
        var wm = WeightMatrix(w, g);
        int per = ImagesPerChunk(g, options.ConvBatchedChunkBytes);
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
                Blas.Gemm(m, K, og, a, wm.At(o0, 0), dcol, cs, K, accumulate: false, options.GemmKernel);
                IntraOpPool.For(nc, i => Col2Im(ref dcol[cs + i * P * K], dx, first + i, c0, g));
            }
    }

    public static void BackwardWeight(Act<T> dy, Act<T> x, Act<T> dw, ConvGeometry g, CpuKernelOptions options)
    {
        int K = g.K, og = g.Og, cg = g.Cg, P = g.P;
        // dw[o, (kh, kw, c)] in place when dw is that row-major matrix (OHWI), else a scratch transposed at the end.
        var dwv = new WeightView<T>(dw.Data, dw.Offset, dw.SN, dw.SC, dw.SH, dw.SW, g.KH, g.KW);
        bool direct = TapCStride(dwv, g, out int s) && s == 1 && dw.SN >= K;
        T[] c; int cBase, ldc;
        if (direct) { c = dw.Data; cBase = dw.Offset; ldc = dw.SN; }
        else { c = ConvBuffers<T>.Partials.GetArray(g.O * K, out cBase); ldc = K; }
        int per = ImagesPerChunk(g, options.ConvBatchedChunkBytes);
        var col = ConvBuffers<T>.Col.GetArray(per * P * K, out int cs);
        bool dyDirect = PixelStride(dy, g.N, g.OH, g.OW, out int dq);
        T[] am = []; int amStart = 0;
        if (!dyDirect) am = ConvBuffers<T>.Mat.GetArray(per * P * og, out amStart);
        for (int gi = 0; gi < g.G; gi++)
            for (int n0 = 0; n0 < g.N; n0 += per)
            {
                int nc = Math.Min(per, g.N - n0), m = nc * P, c0 = gi * cg, o0 = gi * og, first = n0;
                IntraOpPool.For(nc, i =>
                {
                    Im2Col(x, first + i, c0, g, ref col[cs + i * P * K]);
                    if (!dyDirect) ToPixelMatrix(dy, first + i, o0, og, g.OH, g.OW, am, amStart + i * P * og);
                });
                var a = dyDirect ? new StridedMatrix<T>(dy.Data, dy.Offset + n0 * dy.SN + o0 * dy.SC, dy.SC, dq) : new(am, amStart, 1, og);
                Blas.Gemm(og, K, m, a, new StridedMatrix<T>(col, cs, K, 1), c, cBase + o0 * ldc, ldc, accumulate: n0 > 0, options.GemmKernel);
            }
        if (direct) return;
        int taps = g.Taps;
        bool planes = (g.KW == 1 || dw.SW == 1) && (g.KH == 1 || dw.SH == g.KW);
        IntraOpPool.ForRange(g.O, 16, (o0, o1) =>
        {
            for (int o = o0; o < o1; o++)
            {
                if (planes)
                {
                    // dw[o, c, t] = c[o, t·Cg + c]: a (taps x Cg) -> (Cg x taps) transpose.
                    Transpose.Run(ref c[cBase + o * K], cg, ref dw.Data[dw.Offset + o * dw.SN], dw.SC, taps, cg);
                    continue;
                }
                for (int k = 0; k < K; k++)
                {
                    int t = k / cg;
                    dw.Data[dw.Offset + o * dw.SN + k % cg * dw.SC + t / g.KW * dw.SH + t % g.KW * dw.SW] = c[cBase + o * K + k];
                }
            }
        });
    }

    // ---- the weight matrix W[o, (kh, kw, c)] ----

    /// <summary>W as an O x K matrix in (kh, kw, c) order: in place when the weight's strides allow (OHWI), else
    /// transposed per output channel into the calling thread's weight buffer.</summary>
    private static StridedMatrix<T> WeightMatrix(WeightView<T> w, ConvGeometry g)
    {
        if (TapCStride(w, g, out int s)) return new(w.Data, w.Offset, w.SO, s);
        int K = g.K, cg = g.Cg, taps = g.Taps;
        var buf = ConvBuffers<T>.Weights.GetArray(g.O * K, out int start);
        bool planes = (g.KW == 1 || w.SW == 1) && (g.KH == 1 || w.SH == g.KW);
        IntraOpPool.ForRange(g.O, 16, (o0, o1) =>
        {
            for (int o = o0; o < o1; o++)
            {
                if (planes)
                {
                    // OIHW: each (c) row of taps is contiguous: a (Cg x taps) -> (taps x Cg) transpose.
                    Transpose.Run(ref w.Data[w.Offset + o * w.SO], w.SC, ref buf[start + o * K], cg, cg, taps);
                    continue;
                }
                for (int k = 0; k < K; k++) buf[start + o * K + k] = w.At(o, k % cg, k / cg);
            }
        });
        return new(buf, start, K, 1);
    }

    /// <summary>Whether the (kh, kw, c) index of a weight is one uniform stride (returned in s).</summary>
    private static bool TapCStride(WeightView<T> w, ConvGeometry g, out int s)
        => Uniform([(g.KH, w.SH), (g.KW, w.SW), (g.Cg, w.SC)], out s);

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

    /// <summary>Image n, channels c0..c0 + Cg, channels-last: the activation itself when its channels are adjacent,
    /// else a copy in this thread's scratch (as image 0, channel 0 of the returned view).</summary>
    private static Act<T> ChannelsLastImage(Act<T> a, ref int n, ref int c0, ConvGeometry g, bool copy)
    {
        if (a.SC == 1 || g.Cg == 1) return a;
        int cg = g.Cg;
        var buf = ConvBuffers<T>.Plane.GetArray(g.H * g.W * cg, out int start);
        if (copy) ToPixelMatrix(a, n, c0, cg, g.H, g.W, buf, start);
        n = 0; c0 = 0;
        return new Act<T>(buf, start, 0, 1, g.W * cg, cg);
    }

    /// <summary>Rows q = (oh, ow) of image n's column matrix: col[q·K + (kh·KW + kw)·Cg + c] =
    /// x[n, c0 + c, oh·SH − PH + kh·DH, ow·SW − PW + kw·DW] (0 outside the image): runs of Cg adjacent values.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Im2Col(Act<T> x, int n, int c0, ConvGeometry g, ref T dst)
    {
        x = ChannelsLastImage(x, ref n, ref c0, g, copy: true);
        int K = g.K, cg = g.Cg;
        ref T xs = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(x.Data), x.Offset + n * x.SN + c0 * x.SC);
        for (int oh = 0; oh < g.OH; oh++)
            for (int ow = 0; ow < g.OW; ow++)
            {
                ref T row = ref Unsafe.Add(ref dst, (nint)(oh * g.OW + ow) * K);
                int h0 = oh * g.SH - g.PH, w0 = ow * g.SW - g.PW;
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
                        else Unsafe.Add(ref dd, 0) = src; // one channel
                    }
                }
            }
    }

    /// <summary>Image n's input gradient (channels c0..c0 + Cg) from its rows of the column matrix: zeroed, then every
    /// column added where its tap reads (the inverse of <see cref="Im2Col"/>), pixels and taps in order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Col2Im(ref T src, Act<T> dx, int n, int c0, ConvGeometry g)
    {
        int K = g.K, cg = g.Cg, nOut = n, cOut = c0;
        var d = ChannelsLastImage(dx, ref n, ref c0, g, copy: false);
        ref T xs = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(d.Data), d.Offset + n * d.SN + c0 * d.SC);
        for (int ih = 0; ih < g.H; ih++)
            for (int iw = 0; iw < g.W; iw++)
            {
                ref T p = ref Unsafe.Add(ref xs, ih * d.SH + iw * d.SW);
                if (d.SC == 1) Runs.Clear(ref p, cg);
                else p = default;
            }
        for (int oh = 0; oh < g.OH; oh++)
            for (int ow = 0; ow < g.OW; ow++)
            {
                ref T row = ref Unsafe.Add(ref src, (nint)(oh * g.OW + ow) * K);
                int h0 = oh * g.SH - g.PH, w0 = ow * g.SW - g.PW;
                for (int kh = 0; kh < g.KH; kh++)
                {
                    int ih = h0 + kh * g.DH;
                    if ((uint)ih >= (uint)g.H) continue;
                    for (int kw = 0; kw < g.KW; kw++)
                    {
                        int iw = w0 + kw * g.DW;
                        if ((uint)iw >= (uint)g.W) continue;
                        ref T s = ref Unsafe.Add(ref row, (kh * g.KW + kw) * cg);
                        ref T p = ref Unsafe.Add(ref xs, ih * d.SH + iw * d.SW);
                        if (d.SC == 1) Runs.Add(ref s, ref p, cg);
                        else p = ScalarOps.Add(p, s); // one channel
                    }
                }
            }
        if (d.Data != dx.Data) FromPixelMatrix(d.Data, d.Offset, cg, dx, nOut, cOut, g.H, g.W);
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
