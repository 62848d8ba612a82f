using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Sparkle.Tensors.Cpu;
using Sparkle.Tensors.Cpu.Conv;
using Sparkle.Tensors.Cpu.Gemm;

namespace Sparkle.Tensors.Cpu.Sparse;

/// <summary>
/// Submanifold depthwise convolution (groups = C = O) with stride 1 and "same" padding (2·P = (K − 1)·D, so the
/// output map and its active sites are the input's), computed in the channels-first planes themselves: no row
/// gather, scatter or neighbour map. Per (image, channel) item the plane is copied into a zero-padded scratch with
/// only the active column runs filled (masked inputs read as zero whatever their value), then the output is computed
/// four rows at a time over the active vector chunks only (blocks 1–3 vectors wide; active runs are short, so the
/// register block grows along H rather than W): one weight broadcast per tap feeds up to 12 FMAs. Output rows are written whole, zeros
/// at masked sites, so the output needs no zero fill. The input gradient is the same kernel on dy with the flipped
/// kernel; the weight gradient keeps up to 8 column taps in registers, one channel per item, summed over the batch
/// in order (no dependence on the thread count).
/// </summary>
internal static class DepthwisePlanes
{
    internal readonly record struct Geo(int KH, int KW, int DH, int DW, int PH, int PW);

    private static int RoundUp(int a, int m) => (a + m - 1) / m * m;

    /// <summary>
    /// dst (B, C, H, W contiguous) = depthwise conv of src (data, offset, strides N/C/H, unit W stride) at the active
    /// sites, 0 elsewhere. <paramref name="flip"/> uses the kernel rotated by 180° (the input gradient). The weight
    /// (C, KH·KW) starts at w[wOff].
    /// </summary>
    public static void Forward<T>(T[] src, int off, int sN, int sC, int sH, PlaneRuns runs, int channels, T[] w, int wOff, Geo g, bool flip,
        T[]? bias, T[] dst) where T : unmanaged, IFloatingPointIeee754<T>
    {
        const int R = PlaneRuns.GroupRows;
        int vw = Vector256<T>.Count, h = runs.Height, wd = runs.Width, hw = h * wd, taps = g.KH * g.KW;
        int wc = RoundUp(wd, vw);
        int rowsP = R * runs.Groups + (g.KH - 1) * g.DH;
        int colsP = RoundUp(wc + (g.KW - 1) * g.DW, vw);
        var tapOff = new int[taps];
        for (int t = 0; t < taps; t++) tapOff[t] = t / g.KW * g.DH * colsP + t % g.KW * g.DW;
        var masks = runs.RowMasks<T>();
        IntraOpPool.ForRange(runs.Batch * channels, 1, (i0, i1) =>
        {
            var plane = Scratch.Rent<T>(rowsP * colsP);
            var outRows = Scratch.Rent<T>(R * wc);
            var wts = new T[taps];
            plane.AsSpan(0, rowsP * colsP).Clear();
            try
            {
                for (int item = i0; item < i1; item++)
                {
                    int b = item / channels, c = item % channels;
                    for (int t = 0; t < taps; t++) wts[t] = w[wOff + c * taps + (flip ? taps - 1 - t : t)];
                    BuildPlane(src, off + b * sN + c * sC, sH, runs, b, g.PH, g.PW, colsP, plane, masks);
                    OutputPlane(plane, colsP, runs, b, tapOff, wts, outRows, wc, masks, bias is null ? T.Zero : bias[c], dst, (b * channels + c) * hw);
                }
            }
            finally
            {
                Scratch.Return(outRows);
                Scratch.Return(plane);
            }
        });
    }

    /// <summary>The active sites of one output plane from a built (padded, masked) source plane, written whole into
    /// dst[dstPlane ..] (0 at masked sites).</summary>
    private static void OutputPlane<T>(T[] plane, int colsP, PlaneRuns runs, int b, int[] tapOff, T[] wts, T[] outRows, int wc, T[] masks,
        T bias, T[] dst, int dstPlane) where T : unmanaged, IFloatingPointIeee754<T>
    {
        const int R = PlaneRuns.GroupRows;
        int h = runs.Height, wd = runs.Width;
        ref T p0 = ref MemoryMarshal.GetArrayDataReference(plane);
        ref T o0 = ref MemoryMarshal.GetArrayDataReference(outRows);
        for (int q = 0; q < runs.Groups; q++)
        {
            int k1 = runs.GroupBlockStart[b * runs.Groups + q + 1];
            for (int k = runs.GroupBlockStart[b * runs.Groups + q]; k < k1; k++)
            {
                int j0 = runs.BlockCol[k];
                ref T pl = ref Unsafe.Add(ref p0, q * R * colsP + j0);
                ref T o = ref Unsafe.Add(ref o0, j0);
                switch (runs.BlockVecs[k])
                {
                    case 1: RowGroup<T, TapCounts.C1>(ref pl, colsP, tapOff, wts, ref o, wc); break;
                    case 2: RowGroup<T, TapCounts.C2>(ref pl, colsP, tapOff, wts, ref o, wc); break;
                    default: RowGroup<T, TapCounts.C3>(ref pl, colsP, tapOff, wts, ref o, wc); break;
                }
            }
            for (int r = 0; r < R && q * R + r < h; r++)
            {
                int y = q * R + r;
                if (dstPlane + y * wd + wd > dst.Length) throw new ArgumentException("output plane outside its storage");
                MaskRow(ref Unsafe.Add(ref o0, r * wc), ref masks[(b * h + y) * wc], bias,
                    ref dst[dstPlane + y * wd], wd, runs.Active, (b * h + y) * wd);
            }
        }
    }

    /// <summary>
    /// Both gradients in one pass over the planes, one channel per item: the masked, padded dy plane of each image is
    /// built once and feeds the input gradient (the forward kernel with the flipped kernel, into <paramref name="dx"/>
    /// when given) and the weight gradient (against the masked x plane, when <paramref name="x"/> is given; summed
    /// over the batch in order, then the lanes in order) written to dw[dwOff ..] as (C, KH·KW) (x and dw go together).
    /// </summary>
    public static void Backward<T>(T[] dy, int dOff, int dN, int dC, int dH, T[]? x, int xOff, int xN, int xC, int xH,
        PlaneRuns runs, int channels, T[] w, int w0, Geo g, T[]? dx, T[]? dw, int dwOff) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int vw = Vector256<T>.Count, h = runs.Height, wd = runs.Width, hw = h * wd, taps = g.KH * g.KW;
        int wc = RoundUp(wd, vw);
        int rowsP = PlaneRuns.GroupRows * runs.Groups + (g.KH - 1) * g.DH;
        int colsP = RoundUp(wc + (g.KW - 1) * g.DW, vw);
        var tapOff = new int[taps];
        for (int t = 0; t < taps; t++) tapOff[t] = t / g.KW * g.DH * colsP + t % g.KW * g.DW;
        var masks = runs.RowMasks<T>();
        if ((x is null) != (dw is null)) throw new ArgumentException("the weight gradient needs both x and dw");
        if (dw is not null && dwOff + channels * taps > dw.Length) throw new ArgumentException("weight gradient outside its storage");
        IntraOpPool.ForRange(channels, 1, (c0, c1) =>
        {
            var dyp = Scratch.Rent<T>(rowsP * colsP);
            var xp = x is null ? null : Scratch.Rent<T>(rowsP * colsP);
            var outRows = Scratch.Rent<T>(PlaneRuns.GroupRows * wc);
            var wts = new T[taps];
            var acc = new T[taps * vw];
            Span<int> wOff = stackalloc int[8];
            dyp.AsSpan(0, rowsP * colsP).Clear();
            xp?.AsSpan(0, rowsP * colsP).Clear();
            try
            {
                for (int c = c0; c < c1; c++)
                {
                    for (int t = 0; t < taps; t++) wts[t] = w[w0 + c * taps + taps - 1 - t];
                    acc.AsSpan().Clear();
                    ref T a0 = ref MemoryMarshal.GetArrayDataReference(acc);
                    for (int b = 0; b < runs.Batch; b++)
                    {
                        BuildPlane(dy, dOff + b * dN + c * dC, dH, runs, b, g.PH, g.PW, colsP, dyp, masks);
                        if (dx is not null) OutputPlane(dyp, colsP, runs, b, tapOff, wts, outRows, wc, masks, T.Zero, dx, (b * channels + c) * hw);
                        if (x is null) continue;
                        BuildPlane(x, xOff + b * xN + c * xC, xH, runs, b, g.PH, g.PW, colsP, xp!, masks);
                        ref T p0 = ref MemoryMarshal.GetArrayDataReference(xp!);
                        ref T d0 = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(dyp), g.PH * colsP + g.PW);
                        for (int kh = 0; kh < g.KH; kh++)
                            for (int kw0 = 0; kw0 < g.KW; kw0 += 8)
                            {
                                int cnt = Math.Min(8, g.KW - kw0);
                                for (int k = 0; k < 8; k++) wOff[k] = (kw0 + Math.Min(k, cnt - 1)) * g.DW;
                                ref T a = ref Unsafe.Add(ref a0, (kh * g.KW + kw0) * vw);
                                int rowOff = kh * g.DH;
                                switch (cnt)
                                {
                                    case 1: WeightRows<T, TapCounts.C1>(ref p0, colsP, rowOff, ref d0, colsP, runs, b, wOff, ref a); break;
                                    case 2: WeightRows<T, TapCounts.C2>(ref p0, colsP, rowOff, ref d0, colsP, runs, b, wOff, ref a); break;
                                    case 3: WeightRows<T, TapCounts.C3>(ref p0, colsP, rowOff, ref d0, colsP, runs, b, wOff, ref a); break;
                                    case 4: WeightRows<T, TapCounts.C4>(ref p0, colsP, rowOff, ref d0, colsP, runs, b, wOff, ref a); break;
                                    case 5: WeightRows<T, TapCounts.C5>(ref p0, colsP, rowOff, ref d0, colsP, runs, b, wOff, ref a); break;
                                    case 6: WeightRows<T, TapCounts.C6>(ref p0, colsP, rowOff, ref d0, colsP, runs, b, wOff, ref a); break;
                                    case 7: WeightRows<T, TapCounts.C7>(ref p0, colsP, rowOff, ref d0, colsP, runs, b, wOff, ref a); break;
                                    default: WeightRows<T, TapCounts.C8>(ref p0, colsP, rowOff, ref d0, colsP, runs, b, wOff, ref a); break;
                                }
                            }
                    }
                    if (dw is null) continue;
                    for (int t = 0; t < taps; t++)
                    {
                        T s = acc[t * vw];
                        for (int l = 1; l < vw; l++) s += acc[t * vw + l];
                        dw[dwOff + c * taps + t] = s;
                    }
                }
            }
            finally
            {
                Scratch.Return(outRows);
                if (xp is not null) Scratch.Return(xp);
                Scratch.Return(dyp);
            }
        });
    }

    /// <summary>plane[(y + ph)·colsP + x + pw] = src[base + y·sH + x] at active sites, 0 at masked ones (the plane's
    /// padding is zero from the caller and never written).</summary>
    private static void BuildPlane<T>(T[] src, int bse, int sH, PlaneRuns runs, int b, int ph, int pw, int colsP, T[] plane, T[] masks)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int h = runs.Height, w = runs.Width, wc = runs.PaddedWidth;
        if (bse + (h - 1) * sH + w > src.Length) throw new ArgumentException("source plane outside its storage");
        ref T s0 = ref MemoryMarshal.GetArrayDataReference(src);
        ref T p0 = ref MemoryMarshal.GetArrayDataReference(plane);
        ref T m0 = ref MemoryMarshal.GetArrayDataReference(masks);
        for (int y = 0; y < h; y++)
            MaskRow(ref Unsafe.Add(ref s0, bse + y * sH), ref Unsafe.Add(ref m0, (b * h + y) * wc), T.Zero,
                ref Unsafe.Add(ref p0, (y + ph) * colsP + pw), w, runs.Active, (b * h + y) * w);
    }

    /// <summary>dst[j] = (src[j] + add) at active columns, 0 at masked ones, j &lt; n (whole vectors AND-masked, the tail by
    /// the active flags).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void MaskRow<T>(ref T src, ref T mask, T add, ref T dst, int n, bool[] active, int activeOff)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int vw = Vector256<T>.Count, j = 0;
        if (add == T.Zero)
            for (; j + vw <= n; j += vw)
                (Vector256.LoadUnsafe(ref src, (nuint)j) & Vector256.LoadUnsafe(ref mask, (nuint)j)).StoreUnsafe(ref dst, (nuint)j);
        else
        {
            var av = Vector256.Create(add);
            for (; j + vw <= n; j += vw)
                ((Vector256.LoadUnsafe(ref src, (nuint)j) + av) & Vector256.LoadUnsafe(ref mask, (nuint)j)).StoreUnsafe(ref dst, (nuint)j);
        }
        for (; j < n; j++) Unsafe.Add(ref dst, j) = active[activeOff + j] ? Unsafe.Add(ref src, j) + add : T.Zero;
    }

    /// <summary>Four output rows over NV vectors (plane and output already offset to the group's first row and the
    /// block's column): per tap one weight broadcast feeds 4·NV FMAs, each with its own source load.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RowGroup<T, NV>(ref T plane, int colsP, int[] tapOff, T[] wts, ref T out0, int wc)
        where T : unmanaged, IFloatingPointIeee754<T> where NV : ITapCount
    {
        int n = NV.Count;
        nuint v = (nuint)Vector256<T>.Count, v2 = 2 * v;
        Vector256<T> a0 = default, a1 = default, a2 = default, b0 = default, b1 = default, b2 = default;
        Vector256<T> c0 = default, c1 = default, c2 = default, d0 = default, d1 = default, d2 = default;
        ref T r1 = ref Unsafe.Add(ref plane, colsP);
        ref T r2 = ref Unsafe.Add(ref plane, 2 * colsP);
        ref T r3 = ref Unsafe.Add(ref plane, 3 * colsP);
        ref T w0 = ref MemoryMarshal.GetArrayDataReference(wts);
        for (int t = 0; t < tapOff.Length; t++)
        {
            var k = Vector256.Create(Unsafe.Add(ref w0, t));
            int o = tapOff[t];
            ref T s0 = ref Unsafe.Add(ref plane, o);
            ref T s1 = ref Unsafe.Add(ref r1, o);
            ref T s2 = ref Unsafe.Add(ref r2, o);
            ref T s3 = ref Unsafe.Add(ref r3, o);
            a0 = VectorFma.Fma(k, Vector256.LoadUnsafe(ref s0), a0);
            b0 = VectorFma.Fma(k, Vector256.LoadUnsafe(ref s1), b0);
            c0 = VectorFma.Fma(k, Vector256.LoadUnsafe(ref s2), c0);
            d0 = VectorFma.Fma(k, Vector256.LoadUnsafe(ref s3), d0);
            if (n > 1)
            {
                a1 = VectorFma.Fma(k, Vector256.LoadUnsafe(ref s0, v), a1);
                b1 = VectorFma.Fma(k, Vector256.LoadUnsafe(ref s1, v), b1);
                c1 = VectorFma.Fma(k, Vector256.LoadUnsafe(ref s2, v), c1);
                d1 = VectorFma.Fma(k, Vector256.LoadUnsafe(ref s3, v), d1);
            }
            if (n > 2)
            {
                a2 = VectorFma.Fma(k, Vector256.LoadUnsafe(ref s0, v2), a2);
                b2 = VectorFma.Fma(k, Vector256.LoadUnsafe(ref s1, v2), b2);
                c2 = VectorFma.Fma(k, Vector256.LoadUnsafe(ref s2, v2), c2);
                d2 = VectorFma.Fma(k, Vector256.LoadUnsafe(ref s3, v2), d2);
            }
        }
        ref T q1 = ref Unsafe.Add(ref out0, wc);
        ref T q2 = ref Unsafe.Add(ref out0, 2 * wc);
        ref T q3 = ref Unsafe.Add(ref out0, 3 * wc);
        a0.StoreUnsafe(ref out0); b0.StoreUnsafe(ref q1); c0.StoreUnsafe(ref q2); d0.StoreUnsafe(ref q3);
        if (n > 1) { a1.StoreUnsafe(ref out0, v); b1.StoreUnsafe(ref q1, v); c1.StoreUnsafe(ref q2, v); d1.StoreUnsafe(ref q3, v); }
        if (n > 2) { a2.StoreUnsafe(ref out0, v2); b2.StoreUnsafe(ref q1, v2); c2.StoreUnsafe(ref q2, v2); d2.StoreUnsafe(ref q3, v2); }
    }

    /// <summary>acc[k] += Σ over active chunks of image b's rows y: dy[y, j] · plane[y + rowOff, j + tapOff[k]] for
    /// the TC column taps of a block (one dy load feeds all of them).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void WeightRows<T, TC>(ref T plane, int colsP, int rowOff, ref T dyp, int wc, PlaneRuns runs, int b,
        ReadOnlySpan<int> tapOff, ref T acc) where T : unmanaged, IFloatingPointIeee754<T> where TC : ITapCount
    {
        int n = TC.Count, vw = Vector256<T>.Count, h = runs.Height;
        nuint v = (nuint)vw;
        Vector256<T> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        int t0 = tapOff[0], t1 = tapOff[1], t2 = tapOff[2], t3 = tapOff[3], t4 = tapOff[4], t5 = tapOff[5], t6 = tapOff[6], t7 = tapOff[7];
        var blockStart = runs.RowBlockStart; var blockCol = runs.BlockCol; var blockVecs = runs.BlockVecs;
        int ry = runs.RowRepeat;
        // Rows of one patch row share their chunk lists: walk each chunk down the patch row (affine addresses only).
        for (int y0 = 0; y0 < h; y0 += ry)
        {
            int k1 = blockStart[b * h + y0 + 1];
            for (int k = blockStart[b * h + y0]; k < k1; k++)
            {
                int jEnd = blockCol[k] + blockVecs[k] * vw;
                for (int j = blockCol[k]; j < jEnd; j += vw)
                {
                    ref T s = ref Unsafe.Add(ref plane, (y0 + rowOff) * colsP + j);
                    ref T d = ref Unsafe.Add(ref dyp, y0 * wc + j);
                    for (int y = 0; y < ry; y++)
                    {
                        var gv = Vector256.LoadUnsafe(ref d);
                        a0 = VectorFma.Fma(gv, Vector256.LoadUnsafe(ref Unsafe.Add(ref s, t0)), a0);
                        if (n > 1) a1 = VectorFma.Fma(gv, Vector256.LoadUnsafe(ref Unsafe.Add(ref s, t1)), a1);
                        if (n > 2) a2 = VectorFma.Fma(gv, Vector256.LoadUnsafe(ref Unsafe.Add(ref s, t2)), a2);
                        if (n > 3) a3 = VectorFma.Fma(gv, Vector256.LoadUnsafe(ref Unsafe.Add(ref s, t3)), a3);
                        if (n > 4) a4 = VectorFma.Fma(gv, Vector256.LoadUnsafe(ref Unsafe.Add(ref s, t4)), a4);
                        if (n > 5) a5 = VectorFma.Fma(gv, Vector256.LoadUnsafe(ref Unsafe.Add(ref s, t5)), a5);
                        if (n > 6) a6 = VectorFma.Fma(gv, Vector256.LoadUnsafe(ref Unsafe.Add(ref s, t6)), a6);
                        if (n > 7) a7 = VectorFma.Fma(gv, Vector256.LoadUnsafe(ref Unsafe.Add(ref s, t7)), a7);
                        s = ref Unsafe.Add(ref s, colsP);
                        d = ref Unsafe.Add(ref d, wc);
                    }
                }
            }
        }
        (Vector256.LoadUnsafe(ref acc) + a0).StoreUnsafe(ref acc);
        if (n > 1) (Vector256.LoadUnsafe(ref acc, v) + a1).StoreUnsafe(ref acc, v);
        if (n > 2) (Vector256.LoadUnsafe(ref acc, 2 * v) + a2).StoreUnsafe(ref acc, 2 * v);
        if (n > 3) (Vector256.LoadUnsafe(ref acc, 3 * v) + a3).StoreUnsafe(ref acc, 3 * v);
        if (n > 4) (Vector256.LoadUnsafe(ref acc, 4 * v) + a4).StoreUnsafe(ref acc, 4 * v);
        if (n > 5) (Vector256.LoadUnsafe(ref acc, 5 * v) + a5).StoreUnsafe(ref acc, 5 * v);
        if (n > 6) (Vector256.LoadUnsafe(ref acc, 6 * v) + a6).StoreUnsafe(ref acc, 6 * v);
        if (n > 7) (Vector256.LoadUnsafe(ref acc, 7 * v) + a7).StoreUnsafe(ref acc, 7 * v);
    }
}
