using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Sparkle.Tensors.Cpu.Elementwise;

namespace Sparkle.Tensors.Cpu.Conv;

/// <summary>
/// Depthwise convolution, channels-last: vectorised over channels. A work item (image, band of output rows,
/// chunk of channels) copies its window into a zero-padded slab whose pixels are a whole number of vectors
/// apart; the register block is 2 (or, with 32 vector registers, 4) output rows x 4 pixels x one vector of
/// channels, each loaded source vector feeding every row of the block that reads it (0.82 loads per FMA for 7x7 at
/// 2 rows, 0.61 at 4), one channel vector across the rows at a time. The weight gradient keeps one vector
/// accumulator per (tap, channel vector) per image, kernel rows in pairs sharing the source loads, and the images'
/// partial sums are added in order.
/// </summary>
internal static class DepthwiseNhwc<T, TV, TS> where T : unmanaged, INumber<T> where TV : struct where TS : ISimdOps<T, TV>
{
    private static int VW => TS.Count;
    private const int SlabBudgetBytes = 192 * 1024;
    private const int ChunkChannels = 64;

    /// <summary><paramref name="fourRows"/>: the register block is 4 output rows x 4 pixels (16 accumulators: hosts with
    /// 32 vector registers), else 2 x 4 (8 accumulators, 16 registers). The bits do not depend on it.</summary>
    public static void Forward(Act<T> x, WeightView<T> w, Vec<T>? bias, Act<T> y, ConvGeometry g, bool fourRows)
        => Run(x, g.H, g.W, w, bias, y, g, [DepthwiseTaps.Forward(g)], fourRows);

    public static void BackwardInput(Act<T> dy, WeightView<T> w, Act<T> dx, ConvGeometry g, bool fourRows)
    {
        var phases = new DepthwiseTaps[g.SH * g.SW];
        for (int ph = 0; ph < phases.Length; ph++) phases[ph] = DepthwiseTaps.BackwardPhase(g, ph / g.SW, ph % g.SW);
        Run(dy, g.OH, g.OW, w, null, dx, g, phases, fourRows);
    }

    private static void Run(Act<T> src, int h, int w, WeightView<T> wv, Vec<T>? bias, Act<T> dst, ConvGeometry g, DepthwiseTaps[] grids, bool fourRows)
    {
        if (fourRows) Run<TapCounts.C4>(src, h, w, wv, bias, dst, g, grids);
        else Run<TapCounts.C2>(src, h, w, wv, bias, dst, g, grids);
    }

    private static void Run<TR>(Act<T> src, int h, int w, WeightView<T> wv, Vec<T>? bias, Act<T> dst, ConvGeometry g, DepthwiseTaps[] grids)
        where TR : ITapCount
    {
        int R = TR.Count;
        int chunk = Math.Min(g.C, ChunkChannels), chunks = (g.C + chunk - 1) / chunk;
        int cpad = (chunk + VW - 1) / VW * VW, cp = chunks * cpad;
        // Weights [grid][ri][ci][chunk][lane] and the bias [chunk][lane], zero in the padding lanes; packed once.
        var wStart = new int[grids.Length];
        int total = cp;
        for (int gi = 0; gi < grids.Length; gi++) { wStart[gi] = total; total += grids[gi].DR.Length * grids[gi].DC.Length * cp; }
        var wp = ConvBuffers<T>.Weights.GetArray(total, out int ws);
        for (int c = 0; c < cp; c++)
        {
            int ch = c / cpad, lane = c % cpad, ch0 = ch * chunk + lane;
            bool real = lane < chunk && ch0 < g.C;
            wp[ws + c] = real && bias is { } bv ? bv[ch0] : T.Zero;
            for (int gi = 0; gi < grids.Length; gi++)
            {
                var t = grids[gi];
                for (int ri = 0; ri < t.DR.Length; ri++)
                    for (int ci = 0; ci < t.DC.Length; ci++)
                        wp[ws + wStart[gi] + (ri * t.DC.Length + ci) * cp + c] = real ? wv.At(ch0, 0, t.Kh[ri] * wv.KW + t.Kw[ci]) : T.Zero;
            }
        }
        var sets = grids.Select(t => t.RowSets(R)).ToArray();
        int maxCols = grids.Max(t => (t.Cols + 3) / 4 * 4 * t.CS + t.DCMax + 1);
        int band = Math.Max(R, SlabBudgetBytes / Math.Max(1, maxCols * cpad * Unsafe.SizeOf<T>() * grids.Max(t => t.RS)) / R * R);
        int maxRows = grids.Max(t => t.Rows);
        int bands = Math.Max(1, (maxRows + band - 1) / band);
        IntraOpPool.For(g.N * grids.Length * bands * chunks, item =>
        {
            int n = item / (grids.Length * bands * chunks), gi = item / (bands * chunks) % grids.Length;
            int bi = item / chunks % bands, ch = item % chunks;
            var t = grids[gi];
            int i0 = bi * band, i1 = Math.Min(t.Rows, i0 + band);
            if (i0 >= i1 || t.Cols == 0) return;
            int c0 = ch * chunk, cn = Math.Min(chunk, g.C - c0);
            if (t.Empty) { Zero(dst, n, c0, cn, t, i0, i1); return; }
            int nc = t.DC.Length;
            int colsR = (t.Cols + 3) / 4 * 4, blockRows = (i1 - i0 + R - 1) / R * R;
            int slabCols = (colsR - 1) * t.CS + t.DCMax + 1, slabRows = (blockRows - 1) * t.RS + t.DRMax + 1;
            ref T slab = ref ConvBuffers<T>.Plane.Get(slabRows * slabCols * cpad);
            Slab.Build(src, n, c0, cn, cpad, t.Row0 + i0 * t.RS, slabRows, t.Col0, slabCols, h, w, ref slab);
            ref T wts = ref wp[ws + wStart[gi] + ch * cpad];
            ref T bvec = ref wp[ws + ch * cpad];
            ref T tile = ref ConvBuffers<T>.Tile.Get(4 * R * VW);
            Span<int> tapOff = stackalloc int[nc];
            for (int ci = 0; ci < nc; ci++) tapOff[ci] = t.DC[ci] * cpad;
            int pixStep = t.CS * cpad, rowSize = slabCols * cpad;
            ref T d0 = ref MemoryMarshal.GetArrayDataReference(dst.Data);
            int dPix = t.GridStepW * dst.SW, dRow = t.GridStepH * dst.SH;
            bool direct = dst.SC == 1;
            var (rho, ri) = sets[gi];
            for (int i = i0; i < i1; i += R)
            {
                bool allRows = i + R <= i1;
                // One channel vector across the rows' pixels at a time: the source rows of one vector (at
                // most 10 x 10 pixels, a cache line each) and its weights stay in L1, where all channels of 10 rows
                // (25 KB) and their weights (12.5 KB) did not.
                for (int cv = 0; cv < cn; cv += VW)
                    for (int j = 0; j < t.Cols; j += 4)
                    {
                        bool four = j + 4 <= t.Cols;
                        ref T out0 = ref Unsafe.Add(ref d0, dst.Index(n, c0, t.A + i * t.GridStepH, t.B + j * t.GridStepW));
                        ref T s = ref Unsafe.Add(ref slab, (i - i0) * t.RS * rowSize + j * pixStep + cv);
                        bool full = direct && allRows && four && cv + VW <= cn;
                        Block<TR>(ref s, rowSize, pixStep, rho, ri, tapOff, ref Unsafe.Add(ref wts, cv), nc * cp, cp,
                            ref Unsafe.Add(ref bvec, cv), full, ref Unsafe.Add(ref out0, cv), dRow, dPix, ref tile);
                        if (full) continue;
                        int lanes = Math.Min(VW, cn - cv);
                        for (int r = 0; r < R && i + r < i1; r++)
                            for (int k = 0; k < 4 && j + k < t.Cols; k++)
                            {
                                ref T src2 = ref Unsafe.Add(ref tile, (r * 4 + k) * VW);
                                ref T d = ref Unsafe.Add(ref d0, dst.Index(n, c0 + cv, t.A + (i + r) * t.GridStepH, t.B + (j + k) * t.GridStepW));
                                for (int l = 0; l < lanes; l++) Unsafe.Add(ref d, l * dst.SC) = Unsafe.Add(ref src2, l);
                            }
                    }
            }
        });
    }

    /// <summary>TR output rows x 4 pixels of one channel vector: out[r·outRow + k·outStep], or tile[(r·4 + k)·VW + lane].
    /// Each source row of the block (rho[q], relative to the block's first) is loaded once per column tap and feeds every
    /// row it serves (ri[q·TR + r] ≥ 0): 4 loads per 4·rows FMAs, plus one weight load per row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Block<TR>(ref T s, int rowSize, int pixStep, int[] rho, int[] ri, ReadOnlySpan<int> tapOff,
        ref T wts, int wRowStride, int wTapStride, ref T bias, bool direct, ref T out0, int outRow, int outStep, ref T tile)
        where TR : ITapCount
    {
        int R = TR.Count;
        nuint p1 = (nuint)pixStep, p2 = 2 * p1, p3 = 3 * p1, ts = (nuint)wTapStride;
        TV a0 = default, a1 = default, a2 = default, a3 = default, b0 = default, b1 = default, b2 = default, b3 = default;
        TV c0 = default, c1 = default, c2 = default, c3 = default, d0 = default, d1 = default, d2 = default, d3 = default;
        int nc = tapOff.Length;
        for (int q = 0; q < rho.Length; q++)
        {
            ref T row = ref Unsafe.Add(ref s, rho[q] * rowSize);
            int r0 = ri[q * R], r1 = ri[q * R + 1], r2 = R > 2 ? ri[q * R + 2] : -1, r3 = R > 2 ? ri[q * R + 3] : -1;
            ref T w0 = ref Unsafe.Add(ref wts, Math.Max(r0, 0) * wRowStride);
            ref T w1 = ref Unsafe.Add(ref wts, Math.Max(r1, 0) * wRowStride);
            ref T w2 = ref Unsafe.Add(ref wts, Math.Max(r2, 0) * wRowStride);
            ref T w3 = ref Unsafe.Add(ref wts, Math.Max(r3, 0) * wRowStride);
            if ((R > 2 ? r0 | r1 | r2 | r3 : r0 | r1) >= 0)
                for (int ci = 0; ci < nc; ci++)
                {
                    ref T x = ref Unsafe.Add(ref row, tapOff[ci]);
                    var x0 = TS.Load(ref x); var x1 = TS.Load(ref x, p1);
                    var x2 = TS.Load(ref x, p2); var x3 = TS.Load(ref x, p3);
                    nuint wo = (nuint)ci * ts;
                    var k = TS.Load(ref w0, wo);
                    a0 = TS.Fma(k, x0, a0); a1 = TS.Fma(k, x1, a1); a2 = TS.Fma(k, x2, a2); a3 = TS.Fma(k, x3, a3);
                    k = TS.Load(ref w1, wo);
                    b0 = TS.Fma(k, x0, b0); b1 = TS.Fma(k, x1, b1); b2 = TS.Fma(k, x2, b2); b3 = TS.Fma(k, x3, b3);
                    if (R > 2)
                    {
                        k = TS.Load(ref w2, wo);
                        c0 = TS.Fma(k, x0, c0); c1 = TS.Fma(k, x1, c1); c2 = TS.Fma(k, x2, c2); c3 = TS.Fma(k, x3, c3);
                        k = TS.Load(ref w3, wo);
                        d0 = TS.Fma(k, x0, d0); d1 = TS.Fma(k, x1, d1); d2 = TS.Fma(k, x2, d2); d3 = TS.Fma(k, x3, d3);
                    }
                }
            else
                for (int ci = 0; ci < nc; ci++)
                {
                    ref T x = ref Unsafe.Add(ref row, tapOff[ci]);
                    var x0 = TS.Load(ref x); var x1 = TS.Load(ref x, p1);
                    var x2 = TS.Load(ref x, p2); var x3 = TS.Load(ref x, p3);
                    nuint wo = (nuint)ci * ts;
                    if (r0 >= 0)
                    {
                        var k = TS.Load(ref w0, wo);
                        a0 = TS.Fma(k, x0, a0); a1 = TS.Fma(k, x1, a1); a2 = TS.Fma(k, x2, a2); a3 = TS.Fma(k, x3, a3);
                    }
                    if (r1 >= 0)
                    {
                        var k = TS.Load(ref w1, wo);
                        b0 = TS.Fma(k, x0, b0); b1 = TS.Fma(k, x1, b1); b2 = TS.Fma(k, x2, b2); b3 = TS.Fma(k, x3, b3);
                    }
                    if (R > 2 && r2 >= 0)
                    {
                        var k = TS.Load(ref w2, wo);
                        c0 = TS.Fma(k, x0, c0); c1 = TS.Fma(k, x1, c1); c2 = TS.Fma(k, x2, c2); c3 = TS.Fma(k, x3, c3);
                    }
                    if (R > 2 && r3 >= 0)
                    {
                        var k = TS.Load(ref w3, wo);
                        d0 = TS.Fma(k, x0, d0); d1 = TS.Fma(k, x1, d1); d2 = TS.Fma(k, x2, d2); d3 = TS.Fma(k, x3, d3);
                    }
                }
        }
        var bv = TS.Load(ref bias);
        nuint o = direct ? (nuint)outStep : (nuint)VW, orow = direct ? (nuint)outRow : 4 * (nuint)VW;
        ref T dst = ref direct ? ref out0 : ref tile;
        TS.Store(TS.Add(a0, bv), ref dst); TS.Store(TS.Add(a1, bv), ref dst, o); TS.Store(TS.Add(a2, bv), ref dst, 2 * o); TS.Store(TS.Add(a3, bv), ref dst, 3 * o);
        TS.Store(TS.Add(b0, bv), ref dst, orow); TS.Store(TS.Add(b1, bv), ref dst, orow + o); TS.Store(TS.Add(b2, bv), ref dst, orow + 2 * o); TS.Store(TS.Add(b3, bv), ref dst, orow + 3 * o);
        if (R > 2)
        {
            nuint o2 = 2 * orow, o3 = 3 * orow;
            TS.Store(TS.Add(c0, bv), ref dst, o2); TS.Store(TS.Add(c1, bv), ref dst, o2 + o); TS.Store(TS.Add(c2, bv), ref dst, o2 + 2 * o); TS.Store(TS.Add(c3, bv), ref dst, o2 + 3 * o);
            TS.Store(TS.Add(d0, bv), ref dst, o3); TS.Store(TS.Add(d1, bv), ref dst, o3 + o); TS.Store(TS.Add(d2, bv), ref dst, o3 + 2 * o); TS.Store(TS.Add(d3, bv), ref dst, o3 + 3 * o);
        }
    }

    private static void Zero(Act<T> dst, int n, int c0, int cn, DepthwiseTaps t, int i0, int i1)
    {
        for (int i = i0; i < i1; i++)
            for (int j = 0; j < t.Cols; j++)
                for (int c = 0; c < cn; c++) dst.Data[dst.Index(n, c0 + c, t.A + i * t.GridStepH, t.B + j * t.GridStepW)] = T.Zero;
    }

    /// <summary>Per image (and channel chunk), partial sums acc[ri][ci][channel] over its pixels; the images are then
    /// added in order, lane by lane (each lane is one channel). Kernel rows ri and ri + 1 read the same source row for
    /// output rows oh and oh − δ (δ = DH / SH, when whole), so they are run in pairs: one source load feeds both
    /// (2 dy + TC source loads per 2·TC FMAs instead of 1 + TC per TC). Each accumulator still receives one partial
    /// sum per output row, in row order, so the pairing does not change any bit. <paramref name="wide"/> (32 vector
    /// registers): pairs over up to 8 column taps (16 accumulators), else over 4 (8).</summary>
    public static void BackwardWeight(Act<T> dy, Act<T> x, Act<T> dw, ConvGeometry g, bool wide)
    {
        var t = DepthwiseTaps.Forward(g);
        int nr = t.DR.Length, nc = t.DC.Length, blocks = (nc + 7) / 8;
        int chunk = Math.Min(g.C, ChunkChannels), chunks = (g.C + chunk - 1) / chunk;
        int cpad = (chunk + VW - 1) / VW * VW;
        int perItem = nr * blocks * 8 * cpad;
        var partials = ConvBuffers<T>.Partials.GetArray(g.N * chunks * perItem, out int ps);
        int slabCols = (g.OW - 1) * t.CS + t.DCMax + 1;
        int band = Math.Max(1, SlabBudgetBytes / Math.Max(1, slabCols * cpad * Unsafe.SizeOf<T>() * t.RS));
        // Rows ri, ri + 1 share source rows when DH is a multiple of SH: δ output rows apart.
        int delta = nr >= 2 && g.DH % t.RS == 0 ? g.DH / t.RS : -1;
        int pairs = delta >= 0 ? nr / 2 : 0, sub = wide ? 8 : 4;
        IntraOpPool.For(g.N * chunks, item =>
        {
            int n = item / chunks, ch = item % chunks, c0 = ch * chunk, cn = Math.Min(chunk, g.C - c0);
            ref T acc = ref partials[ps + item * perItem];
            Runs.Clear(ref acc, perItem);
            Span<int> tapOff = stackalloc int[blocks * 8];
            for (int ci = 0; ci < tapOff.Length; ci++) tapOff[ci] = (ci < nc ? t.DC[ci] : 0) * cpad;
            int pix = t.CS * cpad, dyRowSize = g.OW * cpad, rowSize = slabCols * cpad;
            for (int oh0 = 0; oh0 < g.OH; oh0 += band)
            {
                int oh1 = Math.Min(g.OH, oh0 + band);
                int slabRows = (oh1 - oh0 - 1) * t.RS + t.DRMax + 1;
                ref T slab = ref ConvBuffers<T>.Plane.Get(slabRows * slabCols * cpad);
                Slab.Build(x, n, c0, cn, cpad, t.Row0 + oh0 * t.RS, slabRows, t.Col0, slabCols, g.H, g.W, ref slab);
                ref T dys = ref ConvBuffers<T>.Plane2.Get((oh1 - oh0) * g.OW * cpad);
                Slab.Build(dy, n, c0, cn, cpad, oh0, oh1 - oh0, 0, g.OW, g.OH, g.OW, ref dys);
                int ohEnd = oh1 + (pairs > 0 ? delta : 0);
                for (int oh = oh0; oh < ohEnd; oh++)
                {
                    bool rowA = oh < oh1, rowB = oh - delta >= oh0;
                    // (Clamped: a row that is not used still gets a reference inside the buffer.)
                    ref T dyA = ref Unsafe.Add(ref dys, Math.Min(oh - oh0, oh1 - oh0 - 1) * dyRowSize);
                    ref T dyB = ref Unsafe.Add(ref dys, Math.Clamp(oh - delta - oh0, 0, oh1 - oh0 - 1) * dyRowSize);
                    for (int pr = 0; pr < pairs; pr++)
                    {
                        int ri = 2 * pr;
                        // The source row both use: (oh − oh0)·RS + DR[ri] = (oh − δ − oh0)·RS + DR[ri + 1].
                        int rho = rowA ? (oh - oh0) * t.RS + t.DR[ri] : (oh - delta - oh0) * t.RS + t.DR[ri + 1];
                        ref T srcRow = ref Unsafe.Add(ref slab, rho * rowSize);
                        for (int c = 0; c < nc; c += sub)
                        {
                            ref T aA = ref Unsafe.Add(ref acc, ((ri * blocks + c / 8) * 8 + c % 8) * cpad);
                            ref T aB = ref Unsafe.Add(ref acc, (((ri + 1) * blocks + c / 8) * 8 + c % 8) * cpad);
                            var taps = tapOff.Slice(c, 8 - c % 8);
                            int k = Math.Min(sub, nc - c);
                            if (rowA && rowB) WeightRowPair(k, ref srcRow, pix, ref dyA, ref dyB, cpad, g.OW, cn, taps, ref aA, ref aB, cpad);
                            else if (rowA) WeightRow(k, ref srcRow, pix, ref dyA, cpad, g.OW, cn, taps, ref aA, cpad);
                            else WeightRow(k, ref srcRow, pix, ref dyB, cpad, g.OW, cn, taps, ref aB, cpad);
                        }
                    }
                    if (!rowA) continue;
                    // Rows not paired (an odd last one, or all when the rows share no source row).
                    for (int ri = 2 * pairs; ri < nr; ri++)
                        for (int b = 0; b < blocks; b++)
                        {
                            ref T srcRow = ref Unsafe.Add(ref slab, ((oh - oh0) * t.RS + t.DR[ri]) * rowSize);
                            ref T a = ref Unsafe.Add(ref acc, (ri * blocks + b) * 8 * cpad);
                            WeightRow(Math.Min(8, nc - b * 8), ref srcRow, pix, ref dyA, cpad, g.OW, cn, tapOff.Slice(b * 8, 8), ref a, cpad);
                        }
                }
            }
        });
        IntraOpPool.ForRange(g.C, 8, (cStart, cEnd) =>
        {
            for (int c = cStart; c < cEnd; c++)
            {
                int ch = c / chunk, lane = c % chunk;
                for (int ri = 0; ri < nr; ri++)
                    for (int ci = 0; ci < nc; ci++)
                    {
                        int at = ((ri * blocks + ci / 8) * 8 + ci % 8) * cpad + lane;
                        T sum = partials[ps + ch * perItem + at];
                        for (int n = 1; n < g.N; n++) sum = Gemm.ScalarOps.Add(sum, partials[ps + (n * chunks + ch) * perItem + at]);
                        dw.Data[dw.Offset + c * dw.SN + t.Kh[ri] * dw.SH + t.Kw[ci] * dw.SW] = sum;
                    }
            }
        });
    }

    private static void WeightRow(int taps, ref T src, int pixStep, ref T dyRow, int dyStep, int cols, int channels, ReadOnlySpan<int> tapOff, ref T acc, int accStride)
    {
        switch (taps)
        {
            case 1: WeightRow<TapCounts.C1>(ref src, pixStep, ref dyRow, dyStep, cols, channels, tapOff, ref acc, accStride); break;
            case 2: WeightRow<TapCounts.C2>(ref src, pixStep, ref dyRow, dyStep, cols, channels, tapOff, ref acc, accStride); break;
            case 3: WeightRow<TapCounts.C3>(ref src, pixStep, ref dyRow, dyStep, cols, channels, tapOff, ref acc, accStride); break;
            case 4: WeightRow<TapCounts.C4>(ref src, pixStep, ref dyRow, dyStep, cols, channels, tapOff, ref acc, accStride); break;
            case 5: WeightRow<TapCounts.C5>(ref src, pixStep, ref dyRow, dyStep, cols, channels, tapOff, ref acc, accStride); break;
            case 6: WeightRow<TapCounts.C6>(ref src, pixStep, ref dyRow, dyStep, cols, channels, tapOff, ref acc, accStride); break;
            case 7: WeightRow<TapCounts.C7>(ref src, pixStep, ref dyRow, dyStep, cols, channels, tapOff, ref acc, accStride); break;
            default: WeightRow<TapCounts.C8>(ref src, pixStep, ref dyRow, dyStep, cols, channels, tapOff, ref acc, accStride); break;
        }
    }

    private static void WeightRowPair(int taps, ref T src, int pixStep, ref T dyA, ref T dyB, int dyStep, int cols, int channels, ReadOnlySpan<int> tapOff, ref T accA, ref T accB, int accStride)
    {
        switch (taps)
        {
            case 1: WeightRowPair<TapCounts.C1>(ref src, pixStep, ref dyA, ref dyB, dyStep, cols, channels, tapOff, ref accA, ref accB, accStride); break;
            case 2: WeightRowPair<TapCounts.C2>(ref src, pixStep, ref dyA, ref dyB, dyStep, cols, channels, tapOff, ref accA, ref accB, accStride); break;
            case 3: WeightRowPair<TapCounts.C3>(ref src, pixStep, ref dyA, ref dyB, dyStep, cols, channels, tapOff, ref accA, ref accB, accStride); break;
            case 4: WeightRowPair<TapCounts.C4>(ref src, pixStep, ref dyA, ref dyB, dyStep, cols, channels, tapOff, ref accA, ref accB, accStride); break;
            case 5: WeightRowPair<TapCounts.C5>(ref src, pixStep, ref dyA, ref dyB, dyStep, cols, channels, tapOff, ref accA, ref accB, accStride); break;
            case 6: WeightRowPair<TapCounts.C6>(ref src, pixStep, ref dyA, ref dyB, dyStep, cols, channels, tapOff, ref accA, ref accB, accStride); break;
            case 7: WeightRowPair<TapCounts.C7>(ref src, pixStep, ref dyA, ref dyB, dyStep, cols, channels, tapOff, ref accA, ref accB, accStride); break;
            default: WeightRowPair<TapCounts.C8>(ref src, pixStep, ref dyA, ref dyB, dyStep, cols, channels, tapOff, ref accA, ref accB, accStride); break;
        }
    }

    /// <summary>As <see cref="WeightRow{TC}"/> for two kernel rows reading the same source row: accA[k] += Σ dyA·src,
    /// accB[k] += Σ dyB·src, each source load feeding both.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void WeightRowPair<TC>(ref T src, int pixStep, ref T dyA, ref T dyB, int dyStep, int cols, int channels, ReadOnlySpan<int> tapOff,
        ref T accA, ref T accB, int accStride)
        where TC : ITapCount
    {
        int n = TC.Count;
        nuint s = (nuint)accStride;
        int t0 = tapOff[0], t1 = n > 1 ? tapOff[1] : 0, t2 = n > 2 ? tapOff[2] : 0, t3 = n > 3 ? tapOff[3] : 0;
        int t4 = n > 4 ? tapOff[4] : 0, t5 = n > 5 ? tapOff[5] : 0, t6 = n > 6 ? tapOff[6] : 0, t7 = n > 7 ? tapOff[7] : 0;
        for (int cv = 0; cv < channels; cv += VW)
        {
            TV a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
            TV b0 = default, b1 = default, b2 = default, b3 = default, b4 = default, b5 = default, b6 = default, b7 = default;
            ref T xs = ref Unsafe.Add(ref src, cv);
            ref T da = ref Unsafe.Add(ref dyA, cv);
            ref T db = ref Unsafe.Add(ref dyB, cv);
            for (int ow = 0; ow < cols; ow++)
            {
                var d = TS.Load(ref da, (nuint)(ow * dyStep));
                var e = TS.Load(ref db, (nuint)(ow * dyStep));
                ref T x = ref Unsafe.Add(ref xs, ow * pixStep);
                var v = TS.Load(ref Unsafe.Add(ref x, t0)); a0 = TS.Fma(d, v, a0); b0 = TS.Fma(e, v, b0);
                if (n > 1) { v = TS.Load(ref Unsafe.Add(ref x, t1)); a1 = TS.Fma(d, v, a1); b1 = TS.Fma(e, v, b1); }
                if (n > 2) { v = TS.Load(ref Unsafe.Add(ref x, t2)); a2 = TS.Fma(d, v, a2); b2 = TS.Fma(e, v, b2); }
                if (n > 3) { v = TS.Load(ref Unsafe.Add(ref x, t3)); a3 = TS.Fma(d, v, a3); b3 = TS.Fma(e, v, b3); }
                if (n > 4) { v = TS.Load(ref Unsafe.Add(ref x, t4)); a4 = TS.Fma(d, v, a4); b4 = TS.Fma(e, v, b4); }
                if (n > 5) { v = TS.Load(ref Unsafe.Add(ref x, t5)); a5 = TS.Fma(d, v, a5); b5 = TS.Fma(e, v, b5); }
                if (n > 6) { v = TS.Load(ref Unsafe.Add(ref x, t6)); a6 = TS.Fma(d, v, a6); b6 = TS.Fma(e, v, b6); }
                if (n > 7) { v = TS.Load(ref Unsafe.Add(ref x, t7)); a7 = TS.Fma(d, v, a7); b7 = TS.Fma(e, v, b7); }
            }
            ref T a = ref Unsafe.Add(ref accA, cv);
            ref T b = ref Unsafe.Add(ref accB, cv);
            TS.Store(TS.Add(TS.Load(ref a), a0), ref a); TS.Store(TS.Add(TS.Load(ref b), b0), ref b);
            if (n > 1) { TS.Store(TS.Add(TS.Load(ref a, s), a1), ref a, s); TS.Store(TS.Add(TS.Load(ref b, s), b1), ref b, s); }
            if (n > 2) { TS.Store(TS.Add(TS.Load(ref a, 2 * s), a2), ref a, 2 * s); TS.Store(TS.Add(TS.Load(ref b, 2 * s), b2), ref b, 2 * s); }
            if (n > 3) { TS.Store(TS.Add(TS.Load(ref a, 3 * s), a3), ref a, 3 * s); TS.Store(TS.Add(TS.Load(ref b, 3 * s), b3), ref b, 3 * s); }
            if (n > 4) { TS.Store(TS.Add(TS.Load(ref a, 4 * s), a4), ref a, 4 * s); TS.Store(TS.Add(TS.Load(ref b, 4 * s), b4), ref b, 4 * s); }
            if (n > 5) { TS.Store(TS.Add(TS.Load(ref a, 5 * s), a5), ref a, 5 * s); TS.Store(TS.Add(TS.Load(ref b, 5 * s), b5), ref b, 5 * s); }
            if (n > 6) { TS.Store(TS.Add(TS.Load(ref a, 6 * s), a6), ref a, 6 * s); TS.Store(TS.Add(TS.Load(ref b, 6 * s), b6), ref b, 6 * s); }
            if (n > 7) { TS.Store(TS.Add(TS.Load(ref a, 7 * s), a7), ref a, 7 * s); TS.Store(TS.Add(TS.Load(ref b, 7 * s), b7), ref b, 7 * s); }
        }
    }

    /// <summary>acc[k][c] += Σ_ow dy[ow][c] · src[ow·pixStep + tapOff[k] + c] for the TC column taps of a block and every
    /// channel vector c of the chunk (one dy load feeds all taps).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void WeightRow<TC>(ref T src, int pixStep, ref T dyRow, int dyStep, int cols, int channels, ReadOnlySpan<int> tapOff, ref T acc, int accStride)
        where TC : ITapCount
    {
        int n = TC.Count;
        nuint s = (nuint)accStride;
        int t0 = tapOff[0], t1 = n > 1 ? tapOff[1] : 0, t2 = n > 2 ? tapOff[2] : 0, t3 = n > 3 ? tapOff[3] : 0;
        int t4 = n > 4 ? tapOff[4] : 0, t5 = n > 5 ? tapOff[5] : 0, t6 = n > 6 ? tapOff[6] : 0, t7 = n > 7 ? tapOff[7] : 0;
        for (int cv = 0; cv < channels; cv += VW)
        {
            TV a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
            ref T xs = ref Unsafe.Add(ref src, cv);
            ref T ds = ref Unsafe.Add(ref dyRow, cv);
            for (int ow = 0; ow < cols; ow++)
            {
                var d = TS.Load(ref ds, (nuint)(ow * dyStep));
                ref T x = ref Unsafe.Add(ref xs, ow * pixStep);
                a0 = TS.Fma(d, TS.Load(ref Unsafe.Add(ref x, t0)), a0);
                if (n > 1) a1 = TS.Fma(d, TS.Load(ref Unsafe.Add(ref x, t1)), a1);
                if (n > 2) a2 = TS.Fma(d, TS.Load(ref Unsafe.Add(ref x, t2)), a2);
                if (n > 3) a3 = TS.Fma(d, TS.Load(ref Unsafe.Add(ref x, t3)), a3);
                if (n > 4) a4 = TS.Fma(d, TS.Load(ref Unsafe.Add(ref x, t4)), a4);
                if (n > 5) a5 = TS.Fma(d, TS.Load(ref Unsafe.Add(ref x, t5)), a5);
                if (n > 6) a6 = TS.Fma(d, TS.Load(ref Unsafe.Add(ref x, t6)), a6);
                if (n > 7) a7 = TS.Fma(d, TS.Load(ref Unsafe.Add(ref x, t7)), a7);
            }
            ref T a = ref Unsafe.Add(ref acc, cv);
            TS.Store(TS.Add(TS.Load(ref a), a0), ref a);
            if (n > 1) TS.Store(TS.Add(TS.Load(ref a, s), a1), ref a, s);
            if (n > 2) TS.Store(TS.Add(TS.Load(ref a, 2 * s), a2), ref a, 2 * s);
            if (n > 3) TS.Store(TS.Add(TS.Load(ref a, 3 * s), a3), ref a, 3 * s);
            if (n > 4) TS.Store(TS.Add(TS.Load(ref a, 4 * s), a4), ref a, 4 * s);
            if (n > 5) TS.Store(TS.Add(TS.Load(ref a, 5 * s), a5), ref a, 5 * s);
            if (n > 6) TS.Store(TS.Add(TS.Load(ref a, 6 * s), a6), ref a, 6 * s);
            if (n > 7) TS.Store(TS.Add(TS.Load(ref a, 7 * s), a7), ref a, 7 * s);
        }
    }
}
