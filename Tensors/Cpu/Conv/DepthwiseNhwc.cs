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
internal static partial class DepthwiseNhwc<T, TV, TS> where T : unmanaged, INumber<T> where TV : struct where TS : ISimdOps<T, TV>
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
}
