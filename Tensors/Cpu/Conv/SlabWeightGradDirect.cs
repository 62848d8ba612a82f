using System.Numerics;
using System.Runtime.CompilerServices;
using Sparkle.Tensors.Cpu.Elementwise;

namespace Sparkle.Tensors.Cpu.Conv;

/// <summary>
/// Weight gradient with <see cref="WeightGradKernel{T, TV, TS}"/> at the vector width of TS (the vector families; the
/// scalar family keeps the packed GEMM of <see cref="SlabWeightGrad{T, TK}"/>): C[(kh, kw, c), o] = Σ_q x[q, (kh, kw, c)]
/// · dy[q, o] over output pixels q, nothing packed. The pixels are cut into slices (a function of the shape, as the
/// GEMM path); a slice walks its pieces (bands of output rows of one image), copies the x window and the dy rows of a
/// piece into channels-last slabs (dy's pixels padded to whole register tiles, the gap zero), and sweeps its tiles
/// over the piece, adding into the slice's partial sum. The slices' partial sums are added in slice order, so the result
/// does not depend on the thread count, and each element's pixel order is the same at every width (same bits).
/// </summary>
internal static class SlabWeightGradDirect<T, TV, TS> where T : unmanaged, INumber<T> where TV : struct where TS : ISimdOps<T, TV>
{
    private const int SlabBudgetBytes = 512 * 1024;

    public static void Run(Act<T> dy, Act<T> x, Act<T> dw, ConvGeometry g)
    {
        int mr = RowsKernel<T, TV, TS>.MR, nr = RowsKernel<T, TV, TS>.NR;
        int og = g.Og, cg = g.Cg, K = g.K, Q = g.N * g.P, G = g.G;
        // Pixel strides of the two slabs: whole register tiles of dy, and neither a multiple of 256 bytes — a tile reads one
        // pixel after another, so with 256 channels (1 KB) every read fell in the same few L1 sets and missed.
        int ogp = (og + nr - 1) / nr * nr, ldy = Skew(ogp), xs0 = Skew(cg), kTiles = (K + mr - 1) / mr, perGroup = kTiles * mr * ogp, tileSize = mr * nr;
        int slices = WeightGradSlices.Count(Q, (long)G * perGroup);
        var partials = ConvBuffers<T>.Partials.GetArray(slices * G * perGroup, out int ps);
        int cols = (g.OW - 1) * g.SW + (g.KW - 1) * g.DW + 1;
        // Column k = (kh, kw, c) of pixel q lies at slab offset pix(q) + colOff[k].
        var colOffAll = new int[K];
        for (int k = 0; k < K; k++)
        {
            int t = k / cg;
            colOffAll[k] = (t / g.KW * g.DH * cols + t % g.KW * g.DW) * xs0 + k % cg;
        }
        int rowBytes = (g.SH * cols * xs0 + g.OW * ldy) * Unsafe.SizeOf<T>();
        int band = Math.Clamp(SlabBudgetBytes / Math.Max(1, rowBytes), 1, g.OH);
        // Slab elements of one piece (a band of rows), rounded to whole cache lines; whole small images are batched
        // so that a tile's sum runs over enough pixels to hide the read-modify-write of its partial sum (at 14x14 with
        // 256 channels the partial sum is 2.4 MB, past L2).
        int xPiece = (((band - 1) * g.SH + (g.KH - 1) * g.DH + 1) * cols * xs0 + 15) & ~15, dyPiece = (band * g.OW * ldy + 15) & ~15;
        int perBatch = band < g.OH ? 1 : Math.Max(1, SlabBudgetBytes / ((xPiece + dyPiece) * Unsafe.SizeOf<T>()));
        // Few slices (small images, e.g. 14x14) and one group would leave threads idle: then the k tiles are split as
        // well, into as many parts as threads would idle (each item owns its rows of its slice's partial sum and copies
        // its pieces' slabs itself, so more parts than threads only repeat those copies). The split does not change any
        // element's sum, so the thread count it depends on does not change the result.
        int threads = IntraOpPool.NumThreads, units = slices * G;
        int kGroups = units >= threads ? 1 : Math.Clamp((threads + units - 1) / units, 1, kTiles);
        int tilesPerGroup = (kTiles + kGroups - 1) / kGroups;
        int colStep = g.SW * xs0, rowStep = g.SH * cols * xs0;
        IntraOpPool.For(slices * G * kGroups, work =>
        {
            int item = work / kGroups, kgi = work % kGroups;
            int s = item / G, gi = item % G;
            int q0 = (int)((long)s * Q / slices), q1 = (int)((long)(s + 1) * Q / slices);
            int t0 = kgi * tilesPerGroup, t1 = Math.Min(kTiles, t0 + tilesPerGroup);
            if (t0 >= t1) return;
            ref T part = ref partials[ps + item * perGroup];
            Span<int> colOff = stackalloc int[mr];
            int runCap = perBatch * band + 1;
            Span<int> runX = stackalloc int[runCap], runDy = stackalloc int[runCap], runLen = stackalloc int[runCap];
            ref T xs = ref ConvBuffers<T>.Plane.Get(perBatch * xPiece + 64);
            ref T dys = ref ConvBuffers<T>.Plane2.Get(perBatch * dyPiece + 64);
            bool first = true;
            for (int q = q0; q < q1;)
            {
                // A batch: up to perBatch pieces, each pixels [q, qe) of image n within output rows [oh0, oh1), their
                // slabs side by side; one run per output row (the first and last of a piece may be partial).
                int runs = 0;
                for (int piece = 0; piece < perBatch && q < q1; piece++)
                {
                    int n = q / g.P, local = q % g.P, oh0 = local / g.OW;
                    int oh1 = Math.Min(g.OH, oh0 + band);
                    int qe = Math.Min(q1, n * g.P + oh1 * g.OW);
                    int localEnd = qe - n * g.P;
                    oh1 = (localEnd - 1) / g.OW + 1;
                    int rows = (oh1 - oh0 - 1) * g.SH + (g.KH - 1) * g.DH + 1;
                    int xAt = piece * xPiece, dyAt = piece * dyPiece;
                    Slab.Build(x, n, gi * cg, cg, xs0, oh0 * g.SH - g.PH, rows, -g.PW, cols, g.H, g.W, ref Unsafe.Add(ref xs, xAt));
                    Slab.Build(dy, n, gi * og, og, ldy, oh0, oh1 - oh0, 0, g.OW, g.OH, g.OW, ref Unsafe.Add(ref dys, dyAt));
                    for (int oh = oh0; oh < oh1; oh++)
                    {
                        int w0 = oh == oh0 ? local % g.OW : 0, w1 = oh == oh1 - 1 ? (localEnd - 1) % g.OW + 1 : g.OW;
                        runX[runs] = xAt + (oh - oh0) * rowStep + w0 * colStep;
                        runDy[runs] = dyAt + ((oh - oh0) * g.OW + w0) * ldy;
                        runLen[runs] = w1 - w0;
                        runs++;
                    }
                    q = qe;
                }
                var rx = runX[..runs]; var rd = runDy[..runs]; var rl = runLen[..runs];
                for (int j0 = 0; j0 < ogp; j0 += nr)
                    for (int t = t0; t < t1; t++)
                    {
                        int k0 = t * mr, valid = Math.Min(mr, K - k0);
                        for (int r = 0; r < mr; r++) colOff[r] = colOffAll[Math.Min(k0 + r, K - 1)];
                        WeightGradKernel<T, TV, TS>.Run(ref xs, colOff, ref Unsafe.Add(ref dys, j0), ldy, colStep, rx, rd, rl,
                            ref Unsafe.Add(ref part, ((nint)t * (ogp / nr) + j0 / nr) * tileSize), nr, valid, accumulate: !first);
                    }
                first = false;
            }
            if (first)
            {
                partials.AsSpan(ps + item * perGroup + t0 * mr * ogp, (t1 - t0) * mr * ogp).Clear();
            }
        });
        // Sum the slices in order; row k = (kh, kw, c) of group gi, column o (stored tile by tile: each tile's MR x NR
        // block is contiguous, so a piece's read-modify-write of it streams), goes to dw[gi·Og + o, c, kh, kw]. Index
        // terms are computed per row, not per element (divisions per element cost 6 ms at 590 K elements).
        int panels = ogp / nr;
        IntraOpPool.ForRange(G * K, 16, (r0, r1) =>
        {
            for (int row = r0; row < r1; row++)
            {
                int gi = row / K, k = row % K, t = k / cg, ci = k % cg;
                int dwBase = dw.Offset + gi * og * dw.SN + ci * dw.SC + t / g.KW * dw.SH + t % g.KW * dw.SW;
                int rowBase = ps + gi * perGroup + k / mr * panels * tileSize + k % mr * nr;
                for (int jp = 0, o = 0; jp < panels && o < og; jp++)
                    for (int jj = 0; jj < nr && o < og; jj++, o++)
                    {
                        int at = rowBase + jp * tileSize + jj;
                        T sum = partials[at];
                        for (int s = 1; s < slices; s++) sum += partials[at + s * G * perGroup];
                        dw.Data[dwBase + o * dw.SN] = sum;
                    }
            }
        });
    }

    /// <summary><paramref name="n"/>, or one cache line more if n elements are a multiple of 256 bytes.</summary>
    private static int Skew(int n) => n * Unsafe.SizeOf<T>() % 256 == 0 ? n + 64 / Unsafe.SizeOf<T>() : n;
}
