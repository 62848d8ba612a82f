using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Sparkle.Tensors.Cpu.Gemm;

namespace Sparkle.Tensors.Cpu.Conv;

/// <summary>
/// Weight gradient as a packed GEMM over slabs: dWᵀ-ordered C[o, (kh, kw, c)] = Σ_q dy[q, o] · x[q, (kh, kw, c)], the
/// sum running over output pixels q. The pixels are cut into a fixed number of slices (a function of the shape);
/// each slice walks its pieces (bands of output rows of one image), copies the x window and the dy rows of a piece
/// into channels-last slabs (from any layout), and accumulates into its own partial sum. The packing is then
/// plain copies: 6 adjacent output channels of dy per k step, and per k step runs of KW·Cg adjacent x values.
/// The slices' partial sums are added in slice order, so results do not depend on the thread count.
/// </summary>
internal static class SlabWeightGrad<T, TK> where T : unmanaged, INumber<T> where TK : IMicroKernel<T>
{
    private const int SlabBudgetBytes = 256 * 1024;

    public static void Run(Act<T> dy, Act<T> x, Act<T> dw, ConvGeometry g)
    {
        int og = g.Og, cg = g.Cg, K = g.K, Q = g.N * g.P, perGroup = og * K;
        int slices = WeightGradSlices.Count(Q, (long)g.G * perGroup);
        var partials = ConvBuffers<T>.Partials.GetArray(slices * g.G * perGroup, out int ps);
        int cols = (g.OW - 1) * g.SW + (g.KW - 1) * g.DW + 1;
        var (segOff, segLen) = Segments(g, cols);
        int rowBytes = (g.SH * cols * cg + g.OW * og) * Unsafe.SizeOf<T>();
        int band = Math.Clamp(SlabBudgetBytes / Math.Max(1, rowBytes), 1, g.OH);
        // Orientation: C = dy-channels x im2col-columns, or its transpose when the im2col columns fit one A block and
        // waste less of the register tiles (the stem: 147 columns are 92 % of 10 panels of 16 but 98 % of 25 rows of 6).
        // Measured: the transpose is slower once its A side needs several blocks (3x3 convs, K = 576 and up).
        bool transposed = K <= TK.MC && Utilization(K, og) > Utilization(og, K);
        // Few slices (small images, e.g. 14x14) and one group would leave threads idle: then the columns of C are
        // split as well (whole NR panels; each item owns its columns of its slice's partial sum).
        int nr = TK.NR, colPanels = (K + nr - 1) / nr;
        int colGroups = transposed || slices * g.G >= 8 ? 1 : Math.Clamp((8 + slices * g.G - 1) / (slices * g.G), 1, Math.Max(1, colPanels / 4));
        int panelsPerGroup = (colPanels + colGroups - 1) / colGroups;
        IntraOpPool.For(slices * g.G * colGroups, work =>
        {
            int item = work / colGroups, cgi = work % colGroups;
            int s = item / g.G, gi = item % g.G;
            int q0 = (int)((long)s * Q / slices), q1 = (int)((long)(s + 1) * Q / slices);
            int k0 = Math.Min(K, cgi * panelsPerGroup * nr), k1 = Math.Min(K, k0 + panelsPerGroup * nr);
            if (k0 >= k1) return;
            var c = new MatrixSink<T>(partials, ps + item * perGroup + (transposed ? 0 : k0), transposed ? og : K);
            bool first = true;
            for (int q = q0; q < q1;)
            {
                // A piece: pixels [q, qe) of image n within output rows [oh0, oh1).
                int n = q / g.P, local = q % g.P, oh0 = local / g.OW;
                int oh1 = Math.Min(g.OH, oh0 + band);
                int qe = Math.Min(q1, n * g.P + oh1 * g.OW);
                oh1 = (qe - 1 - n * g.P) / g.OW + 1;
                int rows = (oh1 - oh0 - 1) * g.SH + (g.KH - 1) * g.DH + 1;
                ref T xs = ref ConvBuffers<T>.Plane.Get(rows * cols * cg + 64);
                Slab.Build(x, n, gi * cg, cg, oh0 * g.SH - g.PH, rows, -g.PW, cols, g.H, g.W, ref xs);
                ref T dys = ref ConvBuffers<T>.Plane2.Get((oh1 - oh0) * g.OW * og + 64);
                Slab.Build(dy, n, gi * og, og, oh0, oh1 - oh0, 0, g.OW, g.OH, g.OW, ref dys);
                int qBase = local - oh0 * g.OW;
                if (transposed)
                {
                    var a = new SlabIm2ColA(g, cols, qBase, segOff, segLen);
                    var b = new SlabColumnsB(og, qBase);
                    ConvGemm<T, TK>.Run(ref a, ref b, ref c, K, og, qe - q, accumulate: !first);
                }
                else
                {
                    var a = new SlabColumnsA(og, qBase);
                    var b = new SlabIm2ColB(g, cols, qBase, segOff, segLen, k0);
                    ConvGemm<T, TK>.Run(ref a, ref b, ref c, og, k1 - k0, qe - q, accumulate: !first);
                }
                first = false;
                q = qe;
            }
            if (first)
                for (int r = 0; r < (transposed ? K : og); r++)
                    partials.AsSpan(ps + item * perGroup + r * (transposed ? og : K) + (transposed ? 0 : k0), transposed ? og : k1 - k0).Clear();
        });
        // Sum the slices in order; column (kh, kw, c) of group gi, row o, goes to dw[gi·Og + o, c, kh, kw].
        int G = g.G;
        IntraOpPool.ForRange(g.O, 4, (o0, o1) =>
        {
            for (int o = o0; o < o1; o++)
            {
                int gi = o / og, oi = o % og;
                for (int col = 0; col < K; col++)
                {
                    int at = transposed ? col * og + oi : oi * K + col;
                    T sum = partials[ps + gi * perGroup + at];
                    for (int s = 1; s < slices; s++) sum = ScalarOps.Add(sum, partials[ps + (s * G + gi) * perGroup + at]);
                    int t = col / cg, ci = col % cg;
                    dw.Data[dw.Offset + o * dw.SN + ci * dw.SC + t / g.KW * dw.SH + t % g.KW * dw.SW] = sum;
                }
            }
        });
    }

    /// <summary>Fraction of the register tiles' FMAs that do useful work for an m x n C.</summary>
    private static double Utilization(int m, int n)
    {
        int mr = TK.MR, nr = TK.NR;
        return (double)m / ((m + mr - 1) / mr * mr) * n / ((n + nr - 1) / nr * nr);
    }


    /// <summary>Runs of the (kh, kw, c) order in a slab of <paramref name="cols"/> pixels per row: one per kernel row
    /// (KW·Cg adjacent values) when DW = 1, one per tap otherwise.</summary>
    private static (int[] Off, int[] Len) Segments(ConvGeometry g, int cols)
    {
        if (g.DW == 1)
            return (Enumerable.Range(0, g.KH).Select(kh => kh * g.DH * cols * g.Cg).ToArray(), Enumerable.Repeat(g.KW * g.Cg, g.KH).ToArray());
        return (Enumerable.Range(0, g.Taps).Select(t => (t / g.KW * g.DH * cols + t % g.KW * g.DW) * g.Cg).ToArray(), Enumerable.Repeat(g.Cg, g.Taps).ToArray());
    }

    /// <summary>A[o, q] = dys[(qBase + q)·Og + o]: per k step, MR adjacent channels.</summary>
    private struct SlabColumnsA : IPanelsA<T>
    {
        private readonly T[] _data;
        private readonly int _start, _og, _qBase;

        public SlabColumnsA(int og, int qBase)
        {
            _data = ConvBuffers<T>.Plane2.GetArray(0, out _start);
            _og = og; _qBase = qBase;
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public ref T Block(int i0, int rows, int p0, int kc, int mr, ref T scratch)
        {
            ref T src = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_data), _start + (_qBase + p0) * _og + i0);
            for (int i = 0; i < rows; i += mr)
            {
                ref T panel = ref Unsafe.Add(ref scratch, (nint)i * kc);
                int valid = Math.Min(mr, rows - i);
                if (valid == mr && i + Vector256<T>.Count <= _og - i0 && mr <= Vector256<T>.Count)
                {
                    // A full vector from each pixel (the lanes past MR are overwritten by the next step; the scratch
                    // has room for the last step's overhang).
                    for (int p = 0; p < kc; p++)
                        Vector256.LoadUnsafe(ref Unsafe.Add(ref src, p * _og + i)).StoreUnsafe(ref Unsafe.Add(ref panel, p * mr));
                    continue;
                }
                // Wider tiles (MR = 12 of the Vector512 micro-kernel) and partial ones: vector runs plus a tail.
                for (int p = 0; p < kc; p++)
                {
                    ref T d = ref Unsafe.Add(ref panel, p * mr);
                    Runs.Copy(ref Unsafe.Add(ref src, p * _og + i), ref d, valid);
                    Runs.Clear(ref Unsafe.Add(ref d, valid), mr - valid);
                }
            }
            return ref scratch;
        }
    }

    /// <summary>B[q, k] = xs[pix(qBase + q) + segOff[s] + r] for k = start(s) + r: per k step, one or two copies.</summary>
    private struct SlabIm2ColB : IPanelB<T>
    {
        private readonly T[] _data;
        private readonly int _start, _ow, _rowStep, _colStep, _qBase, _col0;
        private readonly int[] _segOff, _segLen;

        public SlabIm2ColB(ConvGeometry g, int cols, int qBase, int[] segOff, int[] segLen, int col0)
        {
            _data = ConvBuffers<T>.Plane.GetArray(0, out _start);
            _ow = g.OW; _rowStep = g.SH * cols * g.Cg; _colStep = g.SW * g.Cg; _qBase = qBase;
            _segOff = segOff; _segLen = segLen; _col0 = col0;
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public ref T Panel(int j0, int cols, int p0, int kc, int nr, ref T scratch)
        {
            j0 += _col0;
            // The panel's columns as at most a few (destination column, source offset, length) pieces.
            Span<int> piece = stackalloc int[3 * 64];
            int pieces = 0, seg = 0, segStart = 0;
            while (segStart + _segLen[seg] <= j0) segStart += _segLen[seg++];
            for (int j = 0; j < cols;)
            {
                int inSeg = j0 + j - segStart, len = Math.Min(_segLen[seg] - inSeg, cols - j);
                piece[3 * pieces] = j; piece[3 * pieces + 1] = _segOff[seg] + inSeg; piece[3 * pieces + 2] = len;
                pieces++;
                j += len;
                segStart += _segLen[seg++];
            }
            ref T src = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_data), _start);
            int q = _qBase + p0, oh = q / _ow, ow = q % _ow;
            int pix = oh * _rowStep + ow * _colStep;
            for (int p = 0; p < kc; p++)
            {
                ref T d = ref Unsafe.Add(ref scratch, p * nr);
                for (int k = 0; k < pieces; k++)
                    Runs.Copy(ref Unsafe.Add(ref src, pix + piece[3 * k + 1]), ref Unsafe.Add(ref d, piece[3 * k]), piece[3 * k + 2]);
                Runs.Clear(ref Unsafe.Add(ref d, cols), nr - cols);
                if (++ow == _ow) { ow = 0; oh++; pix = oh * _rowStep; }
                else pix += _colStep;
            }
            return ref scratch;
        }
    }

    /// <summary>B[q, o] = dys[(qBase + q)·Og + o]: per k step, NR adjacent channels.</summary>
    private struct SlabColumnsB : IPanelB<T>
    {
        private readonly T[] _data;
        private readonly int _start, _og, _qBase;

        public SlabColumnsB(int og, int qBase)
        {
            _data = ConvBuffers<T>.Plane2.GetArray(0, out _start);
            _og = og; _qBase = qBase;
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public ref T Panel(int j0, int cols, int p0, int kc, int nr, ref T scratch)
        {
            ref T src = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_data), _start + (_qBase + p0) * _og + j0);
            for (int p = 0; p < kc; p++)
            {
                ref T d = ref Unsafe.Add(ref scratch, p * nr);
                Runs.Copy(ref Unsafe.Add(ref src, p * _og), ref d, cols);
                Runs.Clear(ref Unsafe.Add(ref d, cols), nr - cols);
            }
            return ref scratch;
        }
    }

    /// <summary>A[k, q] = xs[pix(qBase + q) + segOff[s] + r] for k = start(s) + r: MR im2col columns per k step, copied
    /// as one or two runs of adjacent values.</summary>
    private struct SlabIm2ColA : IPanelsA<T>
    {
        private readonly T[] _data;
        private readonly int _start, _ow, _rowStep, _colStep, _qBase;
        private readonly int[] _segOff, _segLen;

        public SlabIm2ColA(ConvGeometry g, int cols, int qBase, int[] segOff, int[] segLen)
        {
            _data = ConvBuffers<T>.Plane.GetArray(0, out _start);
            _ow = g.OW; _rowStep = g.SH * cols * g.Cg; _colStep = g.SW * g.Cg; _qBase = qBase;
            _segOff = segOff; _segLen = segLen;
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public ref T Block(int i0, int rows, int p0, int kc, int mr, ref T scratch)
        {
            ref T src = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_data), _start);
            Span<int> piece = stackalloc int[3 * 16];
            int seg = 0, segStart = 0;
            for (int i = 0; i < rows; i += mr)
            {
                ref T panel = ref Unsafe.Add(ref scratch, (nint)i * kc);
                int valid = Math.Min(mr, rows - i), row0 = i0 + i;
                // The panel's rows as (destination row, source offset, length) runs within segments.
                while (segStart + _segLen[seg] <= row0) segStart += _segLen[seg++];
                int pieces = 0, sg = seg, sgStart = segStart;
                for (int r = 0; r < valid;)
                {
                    int inSeg = row0 + r - sgStart, len = Math.Min(_segLen[sg] - inSeg, valid - r);
                    piece[3 * pieces] = r; piece[3 * pieces + 1] = _segOff[sg] + inSeg; piece[3 * pieces + 2] = len;
                    pieces++;
                    r += len;
                    sgStart += _segLen[sg++];
                }
                // One run of a full panel: copy a whole vector per pixel (the overhang is overwritten by the next
                // step, and the scratch has room for the last one).
                bool wide = pieces == 1 && valid == mr && mr <= Vector256<T>.Count;
                int q = _qBase + p0, oh = q / _ow, ow = q % _ow;
                int pix = oh * _rowStep + ow * _colStep;
                for (int p = 0; p < kc; p++)
                {
                    ref T d = ref Unsafe.Add(ref panel, p * mr);
                    if (wide) Vector256.LoadUnsafe(ref Unsafe.Add(ref src, pix + piece[1])).StoreUnsafe(ref d);
                    else
                    {
                        for (int k = 0; k < pieces; k++)
                            Runs.Copy(ref Unsafe.Add(ref src, pix + piece[3 * k + 1]), ref Unsafe.Add(ref d, piece[3 * k]), piece[3 * k + 2]);
                        Runs.Clear(ref Unsafe.Add(ref d, valid), mr - valid);
                    }
                    if (++ow == _ow) { ow = 0; oh++; pix = oh * _rowStep; }
                    else pix += _colStep;
                }
            }
            return ref scratch;
        }
    }
}

/// <summary>How many slices the weight gradient's pixel sum is cut into (each with its own partial sum, added in slice
/// order): about 2048 pixels per slice, at most 16, partial sums under 16 M elements. A function of the shape only, so
/// the result does not depend on the thread count; shared by the GEMM and the direct paths.</summary>
internal static class WeightGradSlices
{
    public static int Count(int pixels, long gradSize)
    {
        int s = Math.Clamp(pixels / 2048, 1, 16);
        while (s > 1 && s * gradSize > (16 << 20)) s--;
        return s;
    }
}
