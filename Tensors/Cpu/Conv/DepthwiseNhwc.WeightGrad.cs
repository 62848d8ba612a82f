using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Sparkle.Tensors.Cpu.Elementwise;

namespace Sparkle.Tensors.Cpu.Conv;

/// <summary>The channels-last depthwise weight gradient (see <see cref="DepthwiseNhwc{T, TV, TS}"/>).</summary>
internal static partial class DepthwiseNhwc<T, TV, TS> where T : unmanaged, INumber<T> where TV : struct where TS : ISimdOps<T, TV>
{
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
            int pix = t.CS * cpad, rowSize = slabCols * cpad;
            // dy is copied into a padded slab even when it could be read in place (channels-last, whole vectors): read
            // in place, the kernel took the DRAM misses the sequential copy hides, 1.4x the CPU time (docs/conv.md).
            int dyPix = cpad, dyRowSize = g.OW * cpad;
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
                            if (rowA && rowB) WeightRowPair(k, ref srcRow, pix, ref dyA, ref dyB, dyPix, g.OW, cn, taps, ref aA, ref aB, cpad);
                            else if (rowA) WeightRow(k, ref srcRow, pix, ref dyA, dyPix, g.OW, cn, taps, ref aA, cpad);
                            else WeightRow(k, ref srcRow, pix, ref dyB, dyPix, g.OW, cn, taps, ref aB, cpad);
                        }
                    }
                    if (!rowA) continue;
                    // Rows not paired (an odd last one, or all when the rows share no source row).
                    for (int ri = 2 * pairs; ri < nr; ri++)
                        for (int b = 0; b < blocks; b++)
                        {
                            ref T srcRow = ref Unsafe.Add(ref slab, ((oh - oh0) * t.RS + t.DR[ri]) * rowSize);
                            ref T a = ref Unsafe.Add(ref acc, (ri * blocks + b) * 8 * cpad);
                            WeightRow(Math.Min(8, nc - b * 8), ref srcRow, pix, ref dyA, dyPix, g.OW, cn, tapOff.Slice(b * 8, 8), ref a, cpad);
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
