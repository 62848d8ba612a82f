using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Sparkle.Tensors.Cpu.Gemm;

namespace Sparkle.Tensors.Cpu.Conv;

/// <summary>
/// 1x1 convolutions (no padding, one group, any stride) as plain <see cref="Blas.Gemm{T}"/> calls over the
/// activations in place (docs/conv.md): a 1x1 conv is a matrix product between the O x C weight and each image's
/// C x P pixel matrix, so no im2col, slab or transpose is needed, and the GEMM's packers read any strides.
/// <list type="bullet">
/// <item>forward: channels-first Y_n[o, q] = W · X_n per image; channels-last Y[q, o] = X · Wᵀ over all pixels of
/// the batch in one GEMM;</item>
/// <item>input gradient: dX_n = Wᵀ · dY_n, or dX = dY · W (channels-last);</item>
/// <item>weight gradient: dW = Σ_n dY_n · X_nᵀ, one GEMM with K = all pixels when both are channels-last, else one per
/// image accumulating in image order.</item>
/// </list>
/// A stride > 1 reads every s-th pixel: the forward and weight gradient gather those pixels into a compact copy
/// (a quarter of the input for s = 2); the input gradient computes the compact gradient and scatters it into a
/// zeroed dX. Copies run over the pool by image, each element written by one item; the GEMMs are bit-identical for
/// any thread count, so the results are too.
/// </summary>
internal static class PointwiseConv<T> where T : unmanaged, INumber<T>
{
    /// <summary>A 1x1 kernel without padding in one group: a GEMM per image (dilation does not matter).</summary>
    public static bool Applies(ConvGeometry g) => g.KH == 1 && g.KW == 1 && g.PH == 0 && g.PW == 0 && g.G == 1;

    public static void Forward(Act<T> x, WeightView<T> w, Vec<T>? bias, Act<T> y, ConvGeometry g, GemmKernel kernel)
    {
        int P = g.P;
        var xs = Sampled(x, g);
        var xm = Pixels(xs, g.N, g.C, g.OH, g.OW, ConvBuffers<T>.Col);
        var wm = new StridedMatrix<T>(w.Data, w.Offset, w.SO, w.SC);
        bool cl = y.SC == 1 && g.O > 1;
        if (cl && xm.BatchMerges(P))
        {
            // Y[(n, q), o] = X[(n, q), c] · Wᵀ[c, o]: one GEMM over the batch's pixels.
            PrefillBias(y.Data, y.Offset, g.N * P, g.O, g.O, bias, rowsArePixels: true);
            Blas.Gemm(g.N * P, g.O, g.C, xm.PixelRows(0), wm.Transposed, y.Data, y.Offset, g.O, accumulate: bias is not null, kernel);
            return;
        }
        PerImage(g.N, (n, serial) =>
        {
            int yOff = y.Offset + n * y.SN;
            if (cl)
            {
                PrefillBias(y.Data, yOff, P, g.O, g.O, bias, rowsArePixels: true);
                Blas.Gemm(P, g.O, g.C, xm.PixelRows(n), wm.Transposed, y.Data, yOff, g.O, accumulate: bias is not null, kernel, serial);
            }
            else
            {
                PrefillBias(y.Data, yOff, g.O, P, P, bias, rowsArePixels: false);
                Blas.Gemm(g.O, P, g.C, wm, xm.ChannelRows(n), y.Data, yOff, P, accumulate: bias is not null, kernel, serial);
            }
        });
    }

    public static void BackwardInput(Act<T> dy, WeightView<T> w, Act<T> dx, ConvGeometry g, GemmKernel kernel)
    {
        int P = g.P;
        var dym = Pixels(dy, g.N, g.O, g.OH, g.OW, ConvBuffers<T>.Mat);
        var wm = new StridedMatrix<T>(w.Data, w.Offset, w.SO, w.SC);
        bool cl = dx.SC == 1 && g.C > 1;
        // Every dx pixel receives a gradient only when the stride is 1 and the maps match (a transposed conv with
        // output padding, or a stride, leaves pixels no output reads: they get zeros).
        bool direct = g.SH == 1 && g.SW == 1 && g.H == g.OH && g.W == g.OW;
        T[] d = dx.Data;
        int dOff = dx.Offset, dImage = dx.SN;
        if (!direct)
        {
            d = ConvBuffers<T>.Partials.GetArray(g.N * g.C * P, out dOff);
            dImage = g.C * P;
        }
        if (cl && dym.BatchMerges(P) && (g.N == 1 || dImage == P * g.C))
            Blas.Gemm(g.N * P, g.C, g.O, dym.PixelRows(0), wm, d, dOff, g.C, accumulate: false, kernel);
        else
        {
            PerImage(g.N, (n, serial) =>
            {
                if (cl) Blas.Gemm(P, g.C, g.O, dym.PixelRows(n), wm, d, dOff + n * dImage, g.C, accumulate: false, kernel, serial);
                else Blas.Gemm(g.C, P, g.O, wm.Transposed, dym.ChannelRows(n), d, dOff + n * dImage, P, accumulate: false, kernel, serial);
            });
        }
        if (direct) return;
        var compact = cl ? new Act<T>(d, dOff, dImage, 1, g.OW * g.C, g.C) : new Act<T>(d, dOff, dImage, P, g.OW, 1);
        IntraOpPool.For(g.N, n => Scatter(compact, dx, n, g));
    }

    public static void BackwardWeight(Act<T> dy, Act<T> x, Act<T> dw, ConvGeometry g, GemmKernel kernel)
    {
        int P = g.P;
        var xm = Pixels(Sampled(x, g), g.N, g.C, g.OH, g.OW, ConvBuffers<T>.Col);
        var dym = Pixels(dy, g.N, g.O, g.OH, g.OW, ConvBuffers<T>.Mat);
        // dW[o, c] = Σ_q dY[q, o] · X[q, c], stored in place when dw's rows or columns have unit stride (dWᵀ in the
        // second case), else into a scratch copied at the end.
        bool transposed = dw.SC != 1 && (dw.SN == 1 || g.O == 1);
        bool inPlace = dw.SC == 1 || g.C == 1 || transposed;
        T[] c = dw.Data;
        int cOff = dw.Offset, ldc = transposed ? dw.SC : dw.SN;
        if (!inPlace) { c = ConvBuffers<T>.Partials.GetArray(g.O * g.C, out cOff); ldc = g.C; }
        bool oneGemm = xm.BatchMerges(P) && dym.BatchMerges(P);
        int images = oneGemm ? 1 : g.N, k = oneGemm ? g.N * P : P;
        // One image's term, added into (cc, cco, ld) unless it is the first.
        void Term(int n, T[] cc, int cco, int ld, bool add, bool serial)
        {
            if (transposed) Blas.Gemm(g.C, g.O, k, xm.ChannelRows(n), dym.PixelRows(n), cc, cco, ld, add, kernel, serial);
            else Blas.Gemm(g.O, g.C, k, dym.ChannelRows(n), xm.PixelRows(n), cc, cco, ld, add, kernel, serial);
        }
        int rows = transposed ? g.C : g.O, cols = transposed ? g.O : g.C;
        if (images > 1 && (long)g.O * g.C <= SlicedMaxWeights)
        {
            // Small weights, several images: a threaded GEMM per image would be a fork/join and a barrier per k block
            // for a few microseconds of work each. Instead fixed slices of images (by shape, not thread count) run
            // serial GEMMs in parallel into their own partial sums, added in slice order: the same bits on any
            // number of threads.
            int slices = Math.Min(images, MaxSlices), per = (images + slices - 1) / slices;
            slices = (images + per - 1) / per;
            int size = rows * cols;
            var part = ConvBuffers<T>.Weights.GetArray(slices * size, out int ps);
            IntraOpPool.For(slices, sl =>
            {
                for (int n = sl * per; n < Math.Min(images, (sl + 1) * per); n++) Term(n, part, ps + sl * size, cols, n > sl * per, serial: true);
            });
            IntraOpPool.ForRange(rows, 8, (r0, r1) =>
            {
                for (int r = r0; r < r1; r++)
                {
                    var dst = c.AsSpan(cOff + r * ldc, cols);
                    part.AsSpan(ps + r * cols, cols).CopyTo(dst);
                    for (int sl = 1; sl < slices; sl++)
                    {
                        var src = part.AsSpan(ps + sl * size + r * cols, cols);
                        for (int j = 0; j < cols; j++) dst[j] += src[j];
                    }
                }
            });
        }
        else
            for (int n = 0; n < images; n++) Term(n, c, cOff, ldc, n > 0, serial: false);
        if (inPlace) return;
        for (int o = 0; o < g.O; o++)
            for (int ci = 0; ci < g.C; ci++) dw.Data[dw.Offset + o * dw.SN + ci * dw.SC] = c[cOff + o * g.C + ci];
    }

    /// <summary>Weight gradients up to this many elements sum per-slice partials (see BackwardWeight).</summary>
    internal const long SlicedMaxWeights = 128 * 1024;
    internal const int MaxSlices = 8;

    /// <summary>Independent per-image GEMMs, one after another, each threaded (serial = false). Running images in
    /// parallel with serial GEMMs instead was measured (2026-11-26, ResNet-50 shapes): mixed, 0.6-1.6x, since each
    /// thread then packs its own L3-sized B panel where the threaded GEMM shares one; kept as the single switch point.</summary>
    private static void PerImage(int images, Action<int, bool> gemm)
    {
        for (int n = 0; n < images; n++) gemm(n, false);
    }

    // ---- activations as matrices ----

    /// <summary>Activation a read at output pixel (oh, ow): x[n, c, oh·SH, ow·SW] as an (N, C, OH, OW) view.</summary>
    private static Act<T> Sampled(Act<T> x, ConvGeometry g) => new(x.Data, x.Offset, x.SN, x.SC, x.SH * g.SH, x.SW * g.SW);

    /// <summary>An (n, ch, h, w) activation whose pixels are one stride apart within an image: the view itself when its
    /// strides allow, else a dense copy in <paramref name="scratch"/> (channels-last when the source has unit channel
    /// stride, else channels-first), made over the pool by image.</summary>
    private static PixelMatrix Pixels(Act<T> a, int n, int ch, int h, int w, PackBuffer<T> scratch)
    {
        if (PixelStride(a, h, w, out int sq)) return new(a.Data, a.Offset, a.SN, a.SC, sq);
        bool cl = a.SC == 1 && ch > 1;
        var buf = scratch.GetArray(n * ch * h * w, out int start);
        int image = ch * h * w;
        var dst = cl ? new Act<T>(buf, start, image, 1, w * ch, ch) : new Act<T>(buf, start, image, h * w, w, 1);
        IntraOpPool.For(n, i => Copy(a, dst, i, ch, h, w));
        return cl ? new(buf, start, image, 1, ch) : new(buf, start, image, h * w, 1);
    }

    /// <summary>Whether the h x w pixels of an image are one uniform stride apart (returned in s).</summary>
    private static bool PixelStride(Act<T> a, int h, int w, out int s)
    {
        s = w > 1 ? a.SW : a.SH;
        if (h == 1 && w == 1) s = 1;
        return h == 1 || w == 1 || a.SH == w * a.SW;
    }

    /// <summary>Element (n, c, q) at Data[Offset + n·SN + c·SC + q·SQ].</summary>
    private readonly record struct PixelMatrix(T[] Data, int Offset, int SN, int SC, int SQ)
    {
        /// <summary>Image n as a pixels x channels matrix.</summary>
        public StridedMatrix<T> PixelRows(int n) => new(Data, Offset + n * SN, SQ, SC);
        /// <summary>Image n as a channels x pixels matrix.</summary>
        public StridedMatrix<T> ChannelRows(int n) => new(Data, Offset + n * SN, SC, SQ);
        /// <summary>Whether the pixels of all images continue one stride (dense channels-last): one GEMM over the batch.</summary>
        public bool BatchMerges(int p) => SN == p * SQ;
    }

    private static void PrefillBias(T[] c, int off, int rows, int cols, int ld, Vec<T>? bias, bool rowsArePixels)
    {
        if (bias is not { } b) return;
        for (int r = 0; r < rows; r++)
        {
            var row = c.AsSpan(off + r * ld, cols);
            if (rowsArePixels) for (int j = 0; j < cols; j++) row[j] = b[j];
            else row.Fill(b[r]);
        }
    }

    // ---- per-image copies ----

    /// <summary>dst[i] = src[i] for every (channel, pixel) of image i.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Copy(Act<T> src, Act<T> dst, int i, int ch, int h, int w)
    {
        ref T s0 = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(src.Data), src.Offset + i * src.SN);
        ref T d0 = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(dst.Data), dst.Offset + i * dst.SN);
        if (dst.SC == 1)
        {
            // Channels-last destination: a run of ch values per pixel.
            for (int r = 0; r < h; r++)
                for (int q = 0; q < w; q++)
                {
                    ref T s = ref Unsafe.Add(ref s0, r * src.SH + q * src.SW);
                    ref T d = ref Unsafe.Add(ref d0, r * dst.SH + q * dst.SW);
                    for (int c = 0; c < ch; c++) Unsafe.Add(ref d, c) = Unsafe.Add(ref s, c * src.SC);
                }
            return;
        }
        for (int c = 0; c < ch; c++)
            for (int r = 0; r < h; r++)
            {
                ref T s = ref Unsafe.Add(ref s0, c * src.SC + r * src.SH);
                ref T d = ref Unsafe.Add(ref d0, c * dst.SC + r * dst.SH);
                if (src.SW == 1 && dst.SW == 1) Runs.Copy(ref s, ref d, w);
                else for (int q = 0; q < w; q++) Unsafe.Add(ref d, q * dst.SW) = Unsafe.Add(ref s, q * src.SW);
            }
    }

    /// <summary>Image n of dx: zero, then the compact gradient of output pixel (oh, ow) at (oh·SH, ow·SW).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Scatter(Act<T> compact, Act<T> dx, int n, ConvGeometry g)
    {
        ref T d0 = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(dx.Data), dx.Offset + n * dx.SN);
        bool dense = (dx.SW == 1 && dx.SH == g.W && dx.SC == g.H * g.W) || (dx.SC == 1 && dx.SW == g.C && dx.SH == g.W * g.C);
        if (dense) MemoryMarshal.CreateSpan(ref d0, g.C * g.H * g.W).Clear();
        else
        {
            for (int c = 0; c < g.C; c++)
                for (int r = 0; r < g.H; r++)
                    for (int q = 0; q < g.W; q++) Unsafe.Add(ref d0, c * dx.SC + r * dx.SH + q * dx.SW) = default;
        }
        var sampled = new Act<T>(dx.Data, dx.Offset, dx.SN, dx.SC, dx.SH * g.SH, dx.SW * g.SW);
        Copy(compact, sampled, n, g.C, g.OH, g.OW);
    }
}
