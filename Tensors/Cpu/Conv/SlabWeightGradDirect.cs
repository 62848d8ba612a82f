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
    private const int SlabBudgetBytes = 256 * 1024;

    public static void Run(Act<T> dy, Act<T> x, Act<T> dw, ConvGeometry g)
    {
        int mr = RowsKernel<T, TV, TS>.MR, nr = RowsKernel<T, TV, TS>.NR;
        int og = g.Og, cg = g.Cg, K = g.K, Q = g.N * g.P, G = g.G;
        int ogp = (og + nr - 1) / nr * nr, perGroup = K * ogp;
        int slices = Slices(Q, (long)G * perGroup);
        var partials = ConvBuffers<T>.Partials.GetArray(slices * G * perGroup, out int ps);
        int cols = (g.OW - 1) * g.SW + (g.KW - 1) * g.DW + 1;
        // Column k = (kh, kw, c) of pixel q lies at slab offset pix(q) + colOff[k].
        var colOffAll = new int[K];
        for (int k = 0; k < K; k++)
        {
            int t = k / cg;
            colOffAll[k] = (t / g.KW * g.DH * cols + t % g.KW * g.DW) * cg + k % cg;
        }
        int rowBytes = (g.SH * cols * cg + g.OW * ogp) * Unsafe.SizeOf<T>();
        int band = Math.Clamp(SlabBudgetBytes / Math.Max(1, rowBytes), 1, g.OH);
        // Few slices (small images, e.g. 14x14) and one group would leave threads idle: then the k tiles are split as
        // well (each item owns its rows of its slice's partial sum).
        int kTiles = (K + mr - 1) / mr;
        int kGroups = slices * G >= 8 ? 1 : Math.Clamp((8 + slices * G - 1) / (slices * G), 1, Math.Max(1, kTiles / 4));
        int tilesPerGroup = (kTiles + kGroups - 1) / kGroups;
        int colStep = g.SW * cg, rowStep = g.SH * cols * cg;
        IntraOpPool.For(slices * G * kGroups, work =>
        {
            int item = work / kGroups, kgi = work % kGroups;
            int s = item / G, gi = item % G;
            int q0 = (int)((long)s * Q / slices), q1 = (int)((long)(s + 1) * Q / slices);
            int t0 = kgi * tilesPerGroup, t1 = Math.Min(kTiles, t0 + tilesPerGroup);
            if (t0 >= t1) return;
            ref T part = ref partials[ps + item * perGroup];
            Span<int> colOff = stackalloc int[mr];
            Span<int> runX = stackalloc int[band + 1], runDy = stackalloc int[band + 1], runLen = stackalloc int[band + 1];
            bool first = true;
            for (int q = q0; q < q1;)
            {
                // A piece: pixels [q, qe) of image n within output rows [oh0, oh1).
                int n = q / g.P, local = q % g.P, oh0 = local / g.OW;
                int oh1 = Math.Min(g.OH, oh0 + band);
                int qe = Math.Min(q1, n * g.P + oh1 * g.OW);
                int localEnd = qe - n * g.P;
                oh1 = (localEnd - 1) / g.OW + 1;
                int rows = (oh1 - oh0 - 1) * g.SH + (g.KH - 1) * g.DH + 1;
                ref T xs = ref ConvBuffers<T>.Plane.Get(rows * cols * cg + 64);
                Slab.Build(x, n, gi * cg, cg, oh0 * g.SH - g.PH, rows, -g.PW, cols, g.H, g.W, ref xs);
                ref T dys = ref ConvBuffers<T>.Plane2.Get((oh1 - oh0) * g.OW * ogp + 64);
                Slab.Build(dy, n, gi * og, og, ogp, oh0, oh1 - oh0, 0, g.OW, g.OH, g.OW, ref dys);
                // One run per output row of the piece (the first and last may be partial).
                int runs = 0;
                for (int oh = oh0; oh < oh1; oh++)
                {
                    int w0 = oh == oh0 ? local % g.OW : 0, w1 = oh == oh1 - 1 ? (localEnd - 1) % g.OW + 1 : g.OW;
                    runX[runs] = (oh - oh0) * rowStep + w0 * colStep;
                    runDy[runs] = ((oh - oh0) * g.OW + w0) * ogp;
                    runLen[runs] = w1 - w0;
                    runs++;
                }
                var rx = runX[..runs]; var rd = runDy[..runs]; var rl = runLen[..runs];
                for (int j0 = 0; j0 < ogp; j0 += nr)
                    for (int t = t0; t < t1; t++)
                    {
                        int k0 = t * mr, valid = Math.Min(mr, K - k0);
                        for (int r = 0; r < mr; r++) colOff[r] = colOffAll[Math.Min(k0 + r, K - 1)];
                        WeightGradKernel<T, TV, TS>.Run(ref xs, colOff, ref Unsafe.Add(ref dys, j0), ogp, colStep, rx, rd, rl,
                            ref Unsafe.Add(ref part, (nint)k0 * ogp + j0), ogp, valid, accumulate: !first);
                    }
                first = false;
                q = qe;
            }
            if (first)
            {
                int k0 = t0 * mr, k1 = Math.Min(K, t1 * mr);
                partials.AsSpan(ps + item * perGroup + k0 * ogp, (k1 - k0) * ogp).Clear();
            }
        });
        // Sum the slices in order; row k = (kh, kw, c) of group gi, column o, goes to dw[gi·Og + o, c, kh, kw].
        IntraOpPool.ForRange(g.O, 4, (o0, o1) =>
        {
            for (int o = o0; o < o1; o++)
            {
                int gi = o / og, oi = o % og;
                for (int k = 0; k < K; k++)
                {
                    int at = k * ogp + oi;
                    T sum = partials[ps + gi * perGroup + at];
                    for (int s = 1; s < slices; s++) sum += partials[ps + (s * G + gi) * perGroup + at];
                    int t = k / cg, ci = k % cg;
                    dw.Data[dw.Offset + o * dw.SN + ci * dw.SC + t / g.KW * dw.SH + t % g.KW * dw.SW] = sum;
                }
            }
        });
    }

    /// <summary>About 2048 pixels per slice, at most 16 slices, partial sums under 16 M elements; shape only.</summary>
    private static int Slices(int pixels, long gradSize)
    {
        int s = Math.Clamp(pixels / 2048, 1, 16);
        while (s > 1 && s * gradSize > (16 << 20)) s--;
        return s;
    }
}
