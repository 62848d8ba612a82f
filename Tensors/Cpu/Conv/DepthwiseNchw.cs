using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Sparkle.Tensors.Cpu.Gemm;
using Sparkle.Tensors.Cpu.Elementwise;

namespace Sparkle.Tensors.Cpu.Conv;

/// <summary>
/// Depthwise convolution (groups = channels, one output per channel), channels-first: one (image, channel) plane
/// per work item, vectorised along W. The source plane is copied once into a zero-padded scratch plane whose
/// columns are split by stride phase (column j·CS + ph of the source at [ph][j]), so every tap of every stride
/// reads contiguous vectors. The register block is two output rows x 4 vectors: each source row a pair of output
/// rows shares is loaded once and feeds both (0.75 loads per FMA for a 7x7 kernel).
/// </summary>
internal static class DepthwiseNchw<T, TV, TS> where T : unmanaged, INumber<T> where TV : struct where TS : ISimdOps<T, TV>
{
    private static int VW => TS.Count;

    public static void Forward(Act<T> x, WeightView<T> w, Vec<T>? bias, Act<T> y, ConvGeometry g)
    {
        var t = DepthwiseTaps.Forward(g);
        IntraOpPool.For(g.N * g.C, item =>
        {
            int n = item / g.C, c = item % g.C;
            T b = bias is { } bv ? bv[c] : T.Zero;
            Plane(x, n, c, g.H, g.W, w, c, t, b, y, n, c);
        });
    }

    public static void BackwardInput(Act<T> dy, WeightView<T> w, Act<T> dx, ConvGeometry g)
    {
        var phases = new DepthwiseTaps[g.SH * g.SW];
        for (int ph = 0; ph < phases.Length; ph++) phases[ph] = DepthwiseTaps.BackwardPhase(g, ph / g.SW, ph % g.SW);
        IntraOpPool.For(g.N * g.C, item =>
        {
            int n = item / g.C, c = item % g.C;
            foreach (var t in phases)
            {
                if (t.Rows == 0 || t.Cols == 0) continue;
                if (t.Empty)
                {
                    for (int i = 0; i < t.Rows; i++)
                        for (int j = 0; j < t.Cols; j++) dx.Data[dx.Index(n, c, t.A + i * g.SH, t.B + j * g.SW)] = T.Zero;
                    continue;
                }
                Plane(dy, n, c, g.OH, g.OW, w, c, t, T.Zero, dx, n, c);
            }
        });
    }

    /// <summary>dw[c, 0, kh, kw] = Σ_{n, oh, ow} dy[n, c, oh, ow] · x[n, c, ih, iw]: one channel per work item, summed over
    /// the batch in order in per-lane vector accumulators (then the lanes, in order), so no partial sums are needed.</summary>
    public static void BackwardWeight(Act<T> dy, Act<T> x, Act<T> dw, ConvGeometry g)
    {
        var t = DepthwiseTaps.Forward(g);
        IntraOpPool.For(g.C, c =>
        {
            int vw = VW, cs = t.CS, nc = t.DC.Length, nr = t.DR.Length;
            int width = (g.OW + vw - 1) / vw * vw;
            int rowsP = (g.OH - 1) * t.RS + t.DRMax + 1;
            int colsP = (width + t.DCMax / cs + vw + vw - 1) / vw * vw;
            ref T plane = ref ConvBuffers<T>.Plane.Get(cs * rowsP * colsP);
            ref T dyp = ref ConvBuffers<T>.Plane2.Get(g.OH * width);
            int blocks = (nc + 7) / 8;
            ref T acc = ref ConvBuffers<T>.Row.Get(nr * blocks * 8 * vw);
            Runs.Clear(ref acc, nr * blocks * 8 * vw);
            Span<int> tapOff = stackalloc int[blocks * 8];
            for (int ci = 0; ci < tapOff.Length; ci++)
                tapOff[ci] = ci < nc ? t.DC[ci] % cs * rowsP * colsP + t.DC[ci] / cs : 0;
            // dy rows are read in place when they are whole vectors wide and dense; otherwise copied, zero-padded.
            bool direct = width == g.OW && dy.SW == 1 && dy.SH == g.OW;
            for (int n = 0; n < g.N; n++)
            {
                BuildPlane(x, n, c, t.Row0, rowsP, t.Col0, cs, colsP, g.H, g.W, ref plane);
                if (direct) dyp = ref dy.Data[dy.Index(n, c, 0, 0)];
                else BuildPlane(dy, n, c, 0, g.OH, 0, 1, width, g.OH, g.OW, ref dyp);
                for (int ri = 0; ri < nr; ri++)
                    for (int b = 0; b < blocks; b++)
                    {
                        ref T a = ref Unsafe.Add(ref acc, (ri * blocks + b) * 8 * vw);
                        var taps = tapOff.Slice(b * 8, 8);
                        switch (Math.Min(8, nc - b * 8))
                        {
                            case 1: WeightRows<TapCounts.C1>(ref plane, colsP, t.DR[ri], t.RS, ref dyp, width, g.OH, taps, ref a); break;
                            case 2: WeightRows<TapCounts.C2>(ref plane, colsP, t.DR[ri], t.RS, ref dyp, width, g.OH, taps, ref a); break;
                            case 3: WeightRows<TapCounts.C3>(ref plane, colsP, t.DR[ri], t.RS, ref dyp, width, g.OH, taps, ref a); break;
                            case 4: WeightRows<TapCounts.C4>(ref plane, colsP, t.DR[ri], t.RS, ref dyp, width, g.OH, taps, ref a); break;
                            case 5: WeightRows<TapCounts.C5>(ref plane, colsP, t.DR[ri], t.RS, ref dyp, width, g.OH, taps, ref a); break;
                            case 6: WeightRows<TapCounts.C6>(ref plane, colsP, t.DR[ri], t.RS, ref dyp, width, g.OH, taps, ref a); break;
                            case 7: WeightRows<TapCounts.C7>(ref plane, colsP, t.DR[ri], t.RS, ref dyp, width, g.OH, taps, ref a); break;
                            default: WeightRows<TapCounts.C8>(ref plane, colsP, t.DR[ri], t.RS, ref dyp, width, g.OH, taps, ref a); break;
                        }
                    }
            }
            for (int ri = 0; ri < nr; ri++)
                for (int ci = 0; ci < nc; ci++)
                {
                    ref T a = ref Unsafe.Add(ref acc, ((ri * blocks + ci / 8) * 8 + ci % 8) * vw);
                    T sum = a;
                    for (int l = 1; l < vw; l++) sum = ScalarOps.Add(sum, Unsafe.Add(ref a, l));
                    dw.Data[dw.Offset + c * dw.SN + t.Kh[ri] * dw.SH + t.Kw[ci] * dw.SW] = sum;
                }
        });
    }

    /// <summary>acc[k] += Σ_{oh, j} dy[oh, j] · plane[oh·RS + dr, j + tapOff[k]] for the TC column taps of a block
    /// (one dy load feeds all of them).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void WeightRows<TC>(ref T plane, int colsP, int dr, int rs, ref T dyp, int width, int rows, ReadOnlySpan<int> tapOff, ref T acc)
        where TC : ITapCount
    {
        nuint v = (nuint)VW;
        int n = TC.Count;
        TV a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        int t0 = tapOff[0], t1 = tapOff[1], t2 = tapOff[2], t3 = tapOff[3], t4 = tapOff[4], t5 = tapOff[5], t6 = tapOff[6], t7 = tapOff[7];
        for (int oh = 0; oh < rows; oh++)
        {
            ref T src = ref Unsafe.Add(ref plane, (oh * rs + dr) * colsP);
            ref T d = ref Unsafe.Add(ref dyp, oh * width);
            for (int j = 0; j < width; j += VW)
            {
                var g = TS.Load(ref d, (nuint)j);
                ref T s = ref Unsafe.Add(ref src, j);
                a0 = TS.Fma(g, TS.Load(ref Unsafe.Add(ref s, t0)), a0);
                if (n > 1) a1 = TS.Fma(g, TS.Load(ref Unsafe.Add(ref s, t1)), a1);
                if (n > 2) a2 = TS.Fma(g, TS.Load(ref Unsafe.Add(ref s, t2)), a2);
                if (n > 3) a3 = TS.Fma(g, TS.Load(ref Unsafe.Add(ref s, t3)), a3);
                if (n > 4) a4 = TS.Fma(g, TS.Load(ref Unsafe.Add(ref s, t4)), a4);
                if (n > 5) a5 = TS.Fma(g, TS.Load(ref Unsafe.Add(ref s, t5)), a5);
                if (n > 6) a6 = TS.Fma(g, TS.Load(ref Unsafe.Add(ref s, t6)), a6);
                if (n > 7) a7 = TS.Fma(g, TS.Load(ref Unsafe.Add(ref s, t7)), a7);
            }
        }
        TS.Store(TS.Add(TS.Load(ref acc), a0), ref acc);
        if (n > 1) TS.Store(TS.Add(TS.Load(ref acc, v), a1), ref acc, v);
        if (n > 2) TS.Store(TS.Add(TS.Load(ref acc, 2 * v), a2), ref acc, 2 * v);
        if (n > 3) TS.Store(TS.Add(TS.Load(ref acc, 3 * v), a3), ref acc, 3 * v);
        if (n > 4) TS.Store(TS.Add(TS.Load(ref acc, 4 * v), a4), ref acc, 4 * v);
        if (n > 5) TS.Store(TS.Add(TS.Load(ref acc, 5 * v), a5), ref acc, 5 * v);
        if (n > 6) TS.Store(TS.Add(TS.Load(ref acc, 6 * v), a6), ref acc, 6 * v);
        if (n > 7) TS.Store(TS.Add(TS.Load(ref acc, 7 * v), a7), ref acc, 7 * v);
    }

    /// <summary>One grid of <paramref name="t"/> over plane (n, c) of src (h x w), written to dst plane (dn, dc).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Plane(Act<T> src, int n, int c, int h, int w, WeightView<T> wv, int wc, DepthwiseTaps t, T bias, Act<T> dst, int dn, int dc)
    {
        int vw = VW, block = 4 * vw, cs = t.CS, nc = t.DC.Length, nr = t.DR.Length;
        int width = (t.Cols + block - 1) / block * block;
        int pairRows = (t.Rows + 1) / 2 * 2;
        int rowsP = (pairRows - 1) * t.RS + t.DRMax + 1;
        int colsP = (width + t.DCMax / cs + vw + vw - 1) / vw * vw;
        int planeSize = cs * rowsP * colsP;
        ref T plane = ref ConvBuffers<T>.Plane.Get(planeSize);
        BuildPlane(src, n, c, t.Row0, rowsP, t.Col0, cs, colsP, h, w, ref plane);
        // This channel's weights, [ri][ci], and each column tap's phase and offset within it.
        ref T wts = ref ConvBuffers<T>.Row.Get(nr * nc + 2 * width);
        for (int ri = 0; ri < nr; ri++)
            for (int ci = 0; ci < nc; ci++) Unsafe.Add(ref wts, ri * nc + ci) = wv.At(wc, 0, t.Kh[ri] * wv.KW + t.Kw[ci]);
        Span<int> tapOff = stackalloc int[nc];
        for (int ci = 0; ci < nc; ci++) tapOff[ci] = t.DC[ci] % cs * rowsP * colsP + t.DC[ci] / cs;
        ref T out0 = ref Unsafe.Add(ref wts, nr * nc);
        ref T out1 = ref Unsafe.Add(ref out0, width);
        ref T d0 = ref MemoryMarshal.GetArrayDataReference(dst.Data);
        for (int i = 0; i < t.Rows; i += 2)
        {
            RowPair(ref plane, colsP, i * t.RS, t.Pairs, tapOff, ref wts, nc, width, ref out0, ref out1);
            for (int r = 0; r < 2 && i + r < t.Rows; r++)
            {
                ref T o = ref r == 0 ? ref out0 : ref out1;
                int row = t.A + (i + r) * t.GridStepH;
                ref T d = ref Unsafe.Add(ref d0, dst.Index(dn, dc, row, t.B));
                int step = t.GridStepW * dst.SW;
                if (step == 1)
                {
                    Runs.Copy(ref o, ref d, t.Cols);
                    if (bias != T.Zero) Runs.AddScalar(bias, ref d, t.Cols);
                }
                else
                    for (int j = 0; j < t.Cols; j++) Unsafe.Add(ref d, j * step) = ScalarOps.Add(Unsafe.Add(ref o, j), bias);
            }
        }
    }

    /// <summary>plane[ph][r][j] = src[n, c, row0 + r, col0 + j·cs + ph], zero outside h x w.</summary>
    private static void BuildPlane(Act<T> src, int n, int c, int row0, int rows, int col0, int cs, int cols, int h, int w, ref T plane)
    {
        ref T s0 = ref MemoryMarshal.GetArrayDataReference(src.Data);
        for (int ph = 0; ph < cs; ph++)
        {
            // Columns j with 0 <= col0 + j*cs + ph < w.
            int lo = Math.Clamp(ConvGeometry.CeilDiv(-col0 - ph, cs), 0, cols);
            int hi = Math.Clamp(ConvGeometry.CeilDiv(w - col0 - ph, cs), lo, cols);
            for (int r = 0; r < rows; r++)
            {
                ref T d = ref Unsafe.Add(ref plane, (ph * rows + r) * cols);
                int ih = row0 + r;
                if ((uint)ih >= (uint)h || lo == hi) { Runs.Clear(ref d, cols); continue; }
                Runs.Clear(ref d, lo);
                Runs.Clear(ref Unsafe.Add(ref d, hi), cols - hi);
                ref T s = ref Unsafe.Add(ref s0, src.Index(n, c, ih, col0 + lo * cs + ph));
                int step = cs * src.SW;
                if (step == 1) Runs.Copy(ref s, ref Unsafe.Add(ref d, lo), hi - lo);
                else for (int j = lo; j < hi; j++) Unsafe.Add(ref d, j) = Unsafe.Add(ref s, (j - lo) * step);
            }
        }
    }

    /// <summary>Output rows i and i + 1 (i·RS = rowBase) over <paramref name="width"/> columns, 4 vectors at a time.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RowPair(ref T plane, int colsP, int rowBase, (int Rho, int R0, int R1)[] pairs, ReadOnlySpan<int> tapOff,
        ref T wts, int nc, int width, ref T out0, ref T out1)
    {
        nuint v = (nuint)VW;
        for (int j = 0; j < width; j += 4 * VW)
        {
            TV a0 = default, a1 = default, a2 = default, a3 = default, b0 = default, b1 = default, b2 = default, b3 = default;
            foreach (var (rho, r0, r1) in pairs)
            {
                ref T row = ref Unsafe.Add(ref plane, (rowBase + rho) * colsP + j);
                if (r0 >= 0 && r1 >= 0)
                {
                    ref T w0 = ref Unsafe.Add(ref wts, r0 * nc);
                    ref T w1 = ref Unsafe.Add(ref wts, r1 * nc);
                    for (int ci = 0; ci < tapOff.Length; ci++)
                    {
                        ref T s = ref Unsafe.Add(ref row, tapOff[ci]);
                        var x0 = TS.Load(ref s); var x1 = TS.Load(ref s, v);
                        var x2 = TS.Load(ref s, 2 * v); var x3 = TS.Load(ref s, 3 * v);
                        var k0 = TS.Splat(Unsafe.Add(ref w0, ci));
                        var k1 = TS.Splat(Unsafe.Add(ref w1, ci));
                        a0 = TS.Fma(k0, x0, a0); a1 = TS.Fma(k0, x1, a1); a2 = TS.Fma(k0, x2, a2); a3 = TS.Fma(k0, x3, a3);
                        b0 = TS.Fma(k1, x0, b0); b1 = TS.Fma(k1, x1, b1); b2 = TS.Fma(k1, x2, b2); b3 = TS.Fma(k1, x3, b3);
                    }
                }
                else if (r0 >= 0)
                {
                    ref T w0 = ref Unsafe.Add(ref wts, r0 * nc);
                    for (int ci = 0; ci < tapOff.Length; ci++)
                    {
                        ref T s = ref Unsafe.Add(ref row, tapOff[ci]);
                        var k0 = TS.Splat(Unsafe.Add(ref w0, ci));
                        a0 = TS.Fma(k0, TS.Load(ref s), a0); a1 = TS.Fma(k0, TS.Load(ref s, v), a1);
                        a2 = TS.Fma(k0, TS.Load(ref s, 2 * v), a2); a3 = TS.Fma(k0, TS.Load(ref s, 3 * v), a3);
                    }
                }
                else
                {
                    ref T w1 = ref Unsafe.Add(ref wts, r1 * nc);
                    for (int ci = 0; ci < tapOff.Length; ci++)
                    {
                        ref T s = ref Unsafe.Add(ref row, tapOff[ci]);
                        var k1 = TS.Splat(Unsafe.Add(ref w1, ci));
                        b0 = TS.Fma(k1, TS.Load(ref s), b0); b1 = TS.Fma(k1, TS.Load(ref s, v), b1);
                        b2 = TS.Fma(k1, TS.Load(ref s, 2 * v), b2); b3 = TS.Fma(k1, TS.Load(ref s, 3 * v), b3);
                    }
                }
            }
            ref T o0 = ref Unsafe.Add(ref out0, j);
            ref T o1 = ref Unsafe.Add(ref out1, j);
            TS.Store(a0, ref o0); TS.Store(a1, ref o0, v); TS.Store(a2, ref o0, 2 * v); TS.Store(a3, ref o0, 3 * v);
            TS.Store(b0, ref o1); TS.Store(b1, ref o1, v); TS.Store(b2, ref o1, 2 * v); TS.Store(b3, ref o1, 3 * v);
        }
    }
}
