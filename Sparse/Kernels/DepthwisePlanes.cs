using System.Buffers;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Sparkle.Tensors.Cpu;
using Sparkle.Tensors.Cpu.Gemm;

namespace Sparkle.Sparse.Kernels;

/// <summary>A count known to the JIT (vectors per block, taps per register block).</summary>
internal interface ICount { static abstract int Count { get; } }
internal readonly struct N1 : ICount { public static int Count => 1; }
internal readonly struct N2 : ICount { public static int Count => 2; }
internal readonly struct N3 : ICount { public static int Count => 3; }
internal readonly struct N4 : ICount { public static int Count => 4; }
internal readonly struct N5 : ICount { public static int Count => 5; }
internal readonly struct N6 : ICount { public static int Count => 6; }
internal readonly struct N7 : ICount { public static int Count => 7; }
internal readonly struct N8 : ICount { public static int Count => 8; }

/// <summary>
/// Submanifold depthwise convolution (groups = C = O) with stride 1 and "same" padding (2·P = (K − 1)·D, so the
/// output map and its active sites are the input's), computed in the channels-first planes themselves: no row
/// gather, scatter or neighbour map. Per (image, channel) item the plane is copied into a zero-padded scratch with
/// only the active column runs filled (masked inputs read as zero whatever their value), then the output is computed
/// two rows at a time over the active vector chunks only (1–4 vectors wide), the dense kernel's register block:
/// each source row a pair of output rows shares is loaded once and feeds both. Output rows are written whole, zeros
/// at masked sites, so the output needs no zero fill. The input gradient is the same kernel on dy with the flipped
/// kernel; the weight gradient keeps up to 8 column taps in registers, one channel per item, summed over the batch
/// in order (no dependence on the thread count).
/// </summary>
internal static class DepthwisePlanes
{
    internal readonly record struct Geo(int KH, int KW, int DH, int DW, int PH, int PW);

    private static (int Rho, int R0, int R1)[] RowPairs(int kh, int dh)
    {
        var rhos = new SortedSet<int>();
        for (int k = 0; k < kh; k++) { rhos.Add(k * dh); rhos.Add(k * dh + 1); }
        var list = new List<(int, int, int)>();
        foreach (int rho in rhos)
        {
            int r0 = rho % dh == 0 && rho / dh < kh ? rho / dh : -1;
            int r1 = rho >= 1 && (rho - 1) % dh == 0 && (rho - 1) / dh < kh ? (rho - 1) / dh : -1;
            if (r0 >= 0 || r1 >= 0) list.Add((rho, r0, r1));
        }
        return [.. list];
    }

    private static int RoundUp(int a, int m) => (a + m - 1) / m * m;

    /// <summary>
    /// dst (B, C, H, W contiguous) = depthwise conv of src (data, offset, strides N/C/H, unit W stride) at the active
    /// sites, 0 elsewhere. <paramref name="flip"/> uses the kernel rotated by 180° (the input gradient).
    /// </summary>
    public static void Forward<T>(T[] src, int off, int sN, int sC, int sH, PlaneRuns runs, int channels, T[] w, Geo g, bool flip,
        T[]? bias, T[] dst) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int vw = Vector256<T>.Count, h = runs.Height, wd = runs.Width, hw = h * wd, taps = g.KH * g.KW;
        int wc = RoundUp(wd, vw);
        int rowsP = 2 * runs.Pairs + (g.KH - 1) * g.DH;
        int colsP = RoundUp(wc + (g.KW - 1) * g.DW, vw);
        var pairs = RowPairs(g.KH, g.DH);
        var tapOff = new int[g.KW];
        for (int k = 0; k < g.KW; k++) tapOff[k] = k * g.DW;
        IntraOpPool.ForRange(runs.Batch * channels, 1, (i0, i1) =>
        {
            var plane = ArrayPool<T>.Shared.Rent(rowsP * colsP);
            var outRows = ArrayPool<T>.Shared.Rent(2 * wc);
            var wts = new T[taps];
            try
            {
                for (int item = i0; item < i1; item++)
                {
                    int b = item / channels, c = item % channels;
                    for (int t = 0; t < taps; t++) wts[t] = w[c * taps + (flip ? taps - 1 - t : t)];
                    BuildPlane(src, off + b * sN + c * sC, sH, runs, b, g.PH, g.PW, rowsP, colsP, plane);
                    ref T p0 = ref MemoryMarshal.GetArrayDataReference(plane);
                    ref T o0 = ref MemoryMarshal.GetArrayDataReference(outRows);
                    ref T o1 = ref Unsafe.Add(ref o0, wc);
                    ref T wr = ref MemoryMarshal.GetArrayDataReference(wts);
                    T bc = bias is null ? T.Zero : bias[c];
                    int dstPlane = (b * channels + c) * hw;
                    for (int p = 0; p < runs.Pairs; p++)
                    {
                        int k1 = runs.PairBlockStart[b * runs.Pairs + p + 1];
                        for (int k = runs.PairBlockStart[b * runs.Pairs + p]; k < k1; k++)
                        {
                            int j0 = runs.BlockCol[k];
                            ref T pl = ref Unsafe.Add(ref p0, j0);
                            ref T a = ref Unsafe.Add(ref o0, j0);
                            ref T bb = ref Unsafe.Add(ref o1, j0);
                            switch (runs.BlockVecs[k])
                            {
                                case 1: RowPair<T, N1>(ref pl, colsP, 2 * p, pairs, tapOff, ref wr, g.KW, ref a, ref bb); break;
                                case 2: RowPair<T, N2>(ref pl, colsP, 2 * p, pairs, tapOff, ref wr, g.KW, ref a, ref bb); break;
                                case 3: RowPair<T, N3>(ref pl, colsP, 2 * p, pairs, tapOff, ref wr, g.KW, ref a, ref bb); break;
                                default: RowPair<T, N4>(ref pl, colsP, 2 * p, pairs, tapOff, ref wr, g.KW, ref a, ref bb); break;
                            }
                        }
                        for (int r = 0; r < 2 && 2 * p + r < h; r++)
                        {
                            int y = 2 * p + r;
                            var d = dst.AsSpan(dstPlane + y * wd, wd);
                            var o = outRows.AsSpan(r * wc, wc);
                            int e1 = runs.RunStart[b * h + y + 1], x = 0;
                            for (int e = runs.RunStart[b * h + y]; e < e1; e++)
                            {
                                int a0 = runs.X0[e], a1 = runs.X1[e];
                                d[x..a0].Clear();
                                var seg = d[a0..a1];
                                if (bias is null) o[a0..a1].CopyTo(seg);
                                else System.Numerics.Tensors.TensorPrimitives.Add(o[a0..a1], bc, seg);
                                x = a1;
                            }
                            d[x..].Clear();
                        }
                    }
                }
            }
            finally
            {
                ArrayPool<T>.Shared.Return(outRows);
                ArrayPool<T>.Shared.Return(plane);
            }
        });
    }

    /// <summary>plane[(y + ph)·colsP + x + pw] = src[base + y·sH + x] on the active runs of image b, 0 elsewhere.</summary>
    private static void BuildPlane<T>(T[] src, int bse, int sH, PlaneRuns runs, int b, int ph, int pw, int rowsP, int colsP, T[] plane)
        where T : unmanaged
    {
        plane.AsSpan(0, rowsP * colsP).Clear();
        int h = runs.Height;
        for (int y = 0; y < h; y++)
        {
            int e1 = runs.RunStart[b * h + y + 1];
            for (int e = runs.RunStart[b * h + y]; e < e1; e++)
            {
                int a0 = runs.X0[e], n = runs.X1[e] - a0;
                src.AsSpan(bse + y * sH + a0, n).CopyTo(plane.AsSpan((y + ph) * colsP + a0 + pw, n));
            }
        }
    }

    /// <summary>Output rows rowBase and rowBase + 1 over NV vectors (plane and outputs already offset to the block).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RowPair<T, NV>(ref T plane, int colsP, int rowBase, (int Rho, int R0, int R1)[] pairs, int[] tapOff,
        ref T wts, int nc, ref T out0, ref T out1) where T : unmanaged, IFloatingPointIeee754<T> where NV : ICount
    {
        int n = NV.Count;
        nuint v = (nuint)Vector256<T>.Count;
        Vector256<T> a0 = default, a1 = default, a2 = default, a3 = default, b0 = default, b1 = default, b2 = default, b3 = default;
        Vector256<T> x1 = default, x2 = default, x3 = default;
        foreach (var (rho, r0, r1) in pairs)
        {
            ref T row = ref Unsafe.Add(ref plane, (rowBase + rho) * colsP);
            if (r0 >= 0 && r1 >= 0)
            {
                ref T w0 = ref Unsafe.Add(ref wts, r0 * nc);
                ref T w1 = ref Unsafe.Add(ref wts, r1 * nc);
                for (int ci = 0; ci < tapOff.Length; ci++)
                {
                    ref T s = ref Unsafe.Add(ref row, tapOff[ci]);
                    var x0 = Vector256.LoadUnsafe(ref s);
                    if (n > 1) x1 = Vector256.LoadUnsafe(ref s, v);
                    if (n > 2) x2 = Vector256.LoadUnsafe(ref s, 2 * v);
                    if (n > 3) x3 = Vector256.LoadUnsafe(ref s, 3 * v);
                    var k0 = Vector256.Create(Unsafe.Add(ref w0, ci));
                    var k1 = Vector256.Create(Unsafe.Add(ref w1, ci));
                    a0 = VectorFma.Fma(k0, x0, a0); b0 = VectorFma.Fma(k1, x0, b0);
                    if (n > 1) { a1 = VectorFma.Fma(k0, x1, a1); b1 = VectorFma.Fma(k1, x1, b1); }
                    if (n > 2) { a2 = VectorFma.Fma(k0, x2, a2); b2 = VectorFma.Fma(k1, x2, b2); }
                    if (n > 3) { a3 = VectorFma.Fma(k0, x3, a3); b3 = VectorFma.Fma(k1, x3, b3); }
                }
            }
            else if (r0 >= 0)
            {
                ref T w0 = ref Unsafe.Add(ref wts, r0 * nc);
                for (int ci = 0; ci < tapOff.Length; ci++)
                {
                    ref T s = ref Unsafe.Add(ref row, tapOff[ci]);
                    var k0 = Vector256.Create(Unsafe.Add(ref w0, ci));
                    a0 = VectorFma.Fma(k0, Vector256.LoadUnsafe(ref s), a0);
                    if (n > 1) a1 = VectorFma.Fma(k0, Vector256.LoadUnsafe(ref s, v), a1);
                    if (n > 2) a2 = VectorFma.Fma(k0, Vector256.LoadUnsafe(ref s, 2 * v), a2);
                    if (n > 3) a3 = VectorFma.Fma(k0, Vector256.LoadUnsafe(ref s, 3 * v), a3);
                }
            }
            else
            {
                ref T w1 = ref Unsafe.Add(ref wts, r1 * nc);
                for (int ci = 0; ci < tapOff.Length; ci++)
                {
                    ref T s = ref Unsafe.Add(ref row, tapOff[ci]);
                    var k1 = Vector256.Create(Unsafe.Add(ref w1, ci));
                    b0 = VectorFma.Fma(k1, Vector256.LoadUnsafe(ref s), b0);
                    if (n > 1) b1 = VectorFma.Fma(k1, Vector256.LoadUnsafe(ref s, v), b1);
                    if (n > 2) b2 = VectorFma.Fma(k1, Vector256.LoadUnsafe(ref s, 2 * v), b2);
                    if (n > 3) b3 = VectorFma.Fma(k1, Vector256.LoadUnsafe(ref s, 3 * v), b3);
                }
            }
        }
        a0.StoreUnsafe(ref out0); b0.StoreUnsafe(ref out1);
        if (n > 1) { a1.StoreUnsafe(ref out0, v); b1.StoreUnsafe(ref out1, v); }
        if (n > 2) { a2.StoreUnsafe(ref out0, 2 * v); b2.StoreUnsafe(ref out1, 2 * v); }
        if (n > 3) { a3.StoreUnsafe(ref out0, 3 * v); b3.StoreUnsafe(ref out1, 3 * v); }
    }

    /// <summary>
    /// dw[c·taps + kh·KW + kw] = Σ_{b, active (y, x)} dy[b, c, y, x] · x[b, c, y + kh·DH − PH, x + kw·DW − PW] (masked
    /// inputs as zero). One channel per item; per-lane vector accumulators summed over the batch in order, then the
    /// lanes in order.
    /// </summary>
    public static T[] WeightGrad<T>(T[] x, int xOff, int xN, int xC, int xH, T[] dy, int dOff, int dN, int dC, int dH,
        PlaneRuns runs, int channels, Geo g) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int vw = Vector256<T>.Count, h = runs.Height, wd = runs.Width, taps = g.KH * g.KW;
        int wc = RoundUp(wd, vw);
        int rowsP = 2 * runs.Pairs + (g.KH - 1) * g.DH;
        int colsP = RoundUp(wc + (g.KW - 1) * g.DW, vw);
        var dw = new T[channels * taps];
        IntraOpPool.ForRange(channels, 1, (c0, c1) =>
        {
            var plane = ArrayPool<T>.Shared.Rent(rowsP * colsP);
            var dyp = ArrayPool<T>.Shared.Rent(h * wc);
            var acc = new T[taps * vw];
            Span<int> tapOff = stackalloc int[8];
            try
            {
                for (int c = c0; c < c1; c++)
                {
                    acc.AsSpan().Clear();
                    ref T a0 = ref MemoryMarshal.GetArrayDataReference(acc);
                    for (int b = 0; b < runs.Batch; b++)
                    {
                        BuildPlane(x, xOff + b * xN + c * xC, xH, runs, b, g.PH, g.PW, rowsP, colsP, plane);
                        // dy at the active runs, zero elsewhere (rows of wc columns).
                        dyp.AsSpan(0, h * wc).Clear();
                        for (int y = 0; y < h; y++)
                        {
                            int e1 = runs.RunStart[b * h + y + 1];
                            for (int e = runs.RunStart[b * h + y]; e < e1; e++)
                            {
                                int s0 = runs.X0[e], n = runs.X1[e] - s0;
                                dy.AsSpan(dOff + b * dN + c * dC + y * dH + s0, n).CopyTo(dyp.AsSpan(y * wc + s0, n));
                            }
                        }
                        ref T p0 = ref MemoryMarshal.GetArrayDataReference(plane);
                        ref T d0 = ref MemoryMarshal.GetArrayDataReference(dyp);
                        for (int kh = 0; kh < g.KH; kh++)
                            for (int kw0 = 0; kw0 < g.KW; kw0 += 8)
                            {
                                int cnt = Math.Min(8, g.KW - kw0);
                                for (int k = 0; k < 8; k++) tapOff[k] = (kw0 + Math.Min(k, cnt - 1)) * g.DW;
                                ref T a = ref Unsafe.Add(ref a0, (kh * g.KW + kw0) * vw);
                                int rowOff = kh * g.DH;
                                switch (cnt)
                                {
                                    case 1: WeightRows<T, N1>(ref p0, colsP, rowOff, ref d0, wc, runs, b, tapOff, ref a); break;
                                    case 2: WeightRows<T, N2>(ref p0, colsP, rowOff, ref d0, wc, runs, b, tapOff, ref a); break;
                                    case 3: WeightRows<T, N3>(ref p0, colsP, rowOff, ref d0, wc, runs, b, tapOff, ref a); break;
                                    case 4: WeightRows<T, N4>(ref p0, colsP, rowOff, ref d0, wc, runs, b, tapOff, ref a); break;
                                    case 5: WeightRows<T, N5>(ref p0, colsP, rowOff, ref d0, wc, runs, b, tapOff, ref a); break;
                                    case 6: WeightRows<T, N6>(ref p0, colsP, rowOff, ref d0, wc, runs, b, tapOff, ref a); break;
                                    case 7: WeightRows<T, N7>(ref p0, colsP, rowOff, ref d0, wc, runs, b, tapOff, ref a); break;
                                    default: WeightRows<T, N8>(ref p0, colsP, rowOff, ref d0, wc, runs, b, tapOff, ref a); break;
                                }
                            }
                    }
                    for (int t = 0; t < taps; t++)
                    {
                        T s = acc[t * vw];
                        for (int l = 1; l < vw; l++) s += acc[t * vw + l];
                        dw[c * taps + t] = s;
                    }
                }
            }
            finally
            {
                ArrayPool<T>.Shared.Return(dyp);
                ArrayPool<T>.Shared.Return(plane);
            }
        });
        return dw;
    }

    /// <summary>acc[k] += Σ over active chunks of image b's rows y: dy[y, j] · plane[y + rowOff, j + tapOff[k]] for
    /// the TC column taps of a block (one dy load feeds all of them).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void WeightRows<T, TC>(ref T plane, int colsP, int rowOff, ref T dyp, int wc, PlaneRuns runs, int b,
        ReadOnlySpan<int> tapOff, ref T acc) where T : unmanaged, IFloatingPointIeee754<T> where TC : ICount
    {
        int n = TC.Count, vw = Vector256<T>.Count, h = runs.Height;
        nuint v = (nuint)vw;
        Vector256<T> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        int t0 = tapOff[0], t1 = tapOff[1], t2 = tapOff[2], t3 = tapOff[3], t4 = tapOff[4], t5 = tapOff[5], t6 = tapOff[6], t7 = tapOff[7];
        var blockStart = runs.RowBlockStart; var blockCol = runs.BlockCol; var blockVecs = runs.BlockVecs;
        for (int y = 0; y < h; y++)
        {
            ref T src = ref Unsafe.Add(ref plane, (y + rowOff) * colsP);
            ref T d = ref Unsafe.Add(ref dyp, y * wc);
            int k1 = blockStart[b * h + y + 1];
            for (int k = blockStart[b * h + y]; k < k1; k++)
            {
                int jEnd = blockCol[k] + blockVecs[k] * vw;
                for (int j = blockCol[k]; j < jEnd; j += vw)
                {
                    var gv = Vector256.LoadUnsafe(ref d, (nuint)j);
                    ref T s = ref Unsafe.Add(ref src, j);
                    a0 = VectorFma.Fma(gv, Vector256.LoadUnsafe(ref Unsafe.Add(ref s, t0)), a0);
                    if (n > 1) a1 = VectorFma.Fma(gv, Vector256.LoadUnsafe(ref Unsafe.Add(ref s, t1)), a1);
                    if (n > 2) a2 = VectorFma.Fma(gv, Vector256.LoadUnsafe(ref Unsafe.Add(ref s, t2)), a2);
                    if (n > 3) a3 = VectorFma.Fma(gv, Vector256.LoadUnsafe(ref Unsafe.Add(ref s, t3)), a3);
                    if (n > 4) a4 = VectorFma.Fma(gv, Vector256.LoadUnsafe(ref Unsafe.Add(ref s, t4)), a4);
                    if (n > 5) a5 = VectorFma.Fma(gv, Vector256.LoadUnsafe(ref Unsafe.Add(ref s, t5)), a5);
                    if (n > 6) a6 = VectorFma.Fma(gv, Vector256.LoadUnsafe(ref Unsafe.Add(ref s, t6)), a6);
                    if (n > 7) a7 = VectorFma.Fma(gv, Vector256.LoadUnsafe(ref Unsafe.Add(ref s, t7)), a7);
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
