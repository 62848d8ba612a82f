using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Sparkle.Tensors.Cpu.Elementwise;

namespace Sparkle.Tensors.Cpu.Conv;

/// <summary>
/// Forward and input gradient with <see cref="RowsKernel{T, TV, TS}"/> at the vector width of TS (Vector512,
/// Vector256 or Vector128: one implementation), any layout, groups, stride, padding and dilation. A work item copies
/// the window of the input it reads into a zero-padded channels-last slab (<see cref="Slab"/>), then sweeps tiles of
/// MR output pixels x 2 vectors of channels over it; every output element is written once, by one item.
/// <list type="bullet">
/// <item>Forward: item = (group, image, band of output rows). Pixel (oh, ow) reads the slab at
/// ((oh − oh0)·SH, ow·SW); one segment per kernel row (KW·Cg adjacent values when DW = 1).</item>
/// <item>Input gradient: split into the SH·SW stride phases of dx. In phase (a, b) the pixels (a + i·SH, b + j·SW)
/// receive dy[i + e, j + f] through the taps whose offsets e = (a + PH − kh·DH)/SH and f = (b + PW − kw·DW)/SW are
/// whole numbers: a stride-1 correlation over dy with those taps, no zeros multiplied. ConvTranspose2d's forward.</item>
/// </list>
/// </summary>
internal static class SlabConv<T, TV, TS> where T : unmanaged, INumber<T> where TV : struct where TS : ISimdOps<T, TV>
{
    private const int SlabBudgetBytes = 160 * 1024;

    public static void Forward(Act<T> x, WeightView<T> w, Vec<T>? bias, Act<T> y, ConvGeometry g)
    {
        int nr = RowsKernel<T, TV, TS>.NR, K = g.K, og = g.Og, cg = g.Cg;
        int groupSize = WeightPacking.GroupSize(og, K, nr);
        var wp = ConvBuffers<T>.Weights.GetArray(g.G * groupSize + g.O, out int ws);
        Pack(g.G, gi => WeightPacking.Pack<T, WeightSources.OutByTapC<T>>(new(w, gi * og, og, cg), nr, K, wp, ws + gi * groupSize));
        int bs = ws + g.G * groupSize;
        if (bias is { } bv) for (int o = 0; o < g.O; o++) wp[bs + o] = bv[o];
        else Array.Clear(wp, bs, g.O);

        int cols = (g.OW - 1) * g.SW + (g.KW - 1) * g.DW + 1;
        var (segOff, segLen) = ForwardSegments(g, cols);
        int rowBytes = g.SH * cols * cg * Unsafe.SizeOf<T>();
        int band = Math.Clamp(SlabBudgetBytes / Math.Max(1, rowBytes), 1, g.OH);
        int bands = (g.OH + band - 1) / band;
        IntraOpPool.For(g.G * g.N * bands, item =>
        {
            int gi = item / (g.N * bands), n = item / bands % g.N, oh0 = item % bands * band, oh1 = Math.Min(g.OH, oh0 + band);
            int row0 = oh0 * g.SH - g.PH, rows = (oh1 - oh0 - 1) * g.SH + (g.KH - 1) * g.DH + 1;
            var slabBuf = ConvBuffers<T>.Plane;
            ref T slab = ref slabBuf.Get(rows * cols * cg + 64);
            Slab.Build(x, n, gi * cg, cg, row0, rows, -g.PW, cols, g.H, g.W, ref slab);
            var store = new OutputStore(y, n, gi * og, og, g.OW, 1, 1, 0, 0);
            bool banded = BandBuffer.For(y, g.OW, oh0, oh1, og, out var bandStore);
            Sweep(ref slab, oh0 * g.OW, oh1 * g.OW, g.OW, (g.SH * cols) * cg, g.SW * cg, oh0, segOff, segLen,
                wp, ws + gi * groupSize, K, og, banded ? bandStore : store, ref wp[bs + gi * og]);
            if (banded) BandBuffer.Flush(y, n, gi * og, og, g.OW, oh0, oh1);
        });
    }

    public static void BackwardInput(Act<T> dy, WeightView<T> w, Act<T> dx, ConvGeometry g)
    {
        int nr = RowsKernel<T, TV, TS>.NR, og = g.Og, cg = g.Cg, sh = g.SH, sw = g.SW;
        int phases = sh * sw;
        // Per phase: its taps (segments over dy) and its packed weights (rows: taps x o, columns: c).
        var plans = new PhasePlan[phases];
        int total = 0;
        for (int ph = 0; ph < phases; ph++)
        {
            plans[ph] = PhasePlan.Create(g, ph / sw, ph % sw);
            (plans[ph].SegOff, plans[ph].SegLen) = plans[ph].Segments(plans[ph].Cols - 1 + plans[ph].FMax - plans[ph].FMin + 1, og);
            plans[ph].WeightStart = total;
            total += g.G * WeightPacking.GroupSize(cg, plans[ph].K, nr);
        }
        var wp = ConvBuffers<T>.Weights.GetArray(total + 1, out int ws);
        for (int ph = 0; ph < phases; ph++)
        {
            var plan = plans[ph];
            if (plan.K == 0) continue;
            int gs = WeightPacking.GroupSize(cg, plan.K, nr);
            Pack(g.G, gi => WeightPacking.Pack<T, PhaseWeights>(new(w, gi * og, og, cg, plan.TapKh, plan.TapKw), nr, plan.K, wp, ws + plan.WeightStart + gi * gs));
        }
        var zeroBias = new T[Math.Max(cg, nr)];
        // Items: (group, image, phase, band of phase rows).
        int maxCols = 0, maxRowsPerBand = int.MaxValue;
        foreach (var pl in plans) maxCols = Math.Max(maxCols, pl.Cols);
        int rowBytes = Math.Max(1, maxCols * og * Unsafe.SizeOf<T>());
        int band = Math.Max(1, Math.Min(maxRowsPerBand, SlabBudgetBytes / rowBytes));
        int maxPhaseRows = (g.H + sh - 1) / sh;
        int bands = Math.Max(1, (maxPhaseRows + band - 1) / band);
        IntraOpPool.For(g.G * g.N * phases * bands, item =>
        {
            int gi = item / (g.N * phases * bands), n = item / (phases * bands) % g.N, ph = item / bands % phases, bi = item % bands;
            var plan = plans[ph];
            int i0 = bi * band, i1 = Math.Min(plan.Rows, i0 + band);
            if (i0 >= i1 || plan.Cols == 0) return;
            var store = new OutputStore(dx, n, gi * cg, cg, plan.Cols, sh, sw, plan.A, plan.B);
            var bandStore = default(OutputStore);
            bool banded = phases == 1 && plan.K > 0 && BandBuffer.For(dx, plan.Cols, i0, i1, cg, out bandStore);
            if (banded) store = bandStore;
            if (plan.K == 0)
            {
                store.Zero(i0 * plan.Cols, i1 * plan.Cols);
                return;
            }
            int slabCols = plan.Cols - 1 + plan.FMax - plan.FMin + 1;
            int rows = i1 - i0 - 1 + plan.EMax - plan.EMin + 1;
            ref T slab = ref ConvBuffers<T>.Plane.Get(rows * slabCols * og + 64);
            Slab.Build(dy, n, gi * og, og, i0 + plan.EMin, rows, plan.FMin, slabCols, g.OH, g.OW, ref slab);
            int gs = WeightPacking.GroupSize(cg, plan.K, nr);
            Sweep(ref slab, i0 * plan.Cols, i1 * plan.Cols, plan.Cols, slabCols * og, og, i0, plan.SegOff, plan.SegLen,
                wp, ws + plan.WeightStart + gi * gs, plan.K, cg, store, ref zeroBias[0]);
            if (banded) BandBuffer.Flush(dx, n, gi * cg, cg, plan.Cols, i0, i1);
        });
    }

    /// <summary>At most this many k steps per pass over the tiles (later blocks add into the output). Segments longer
    /// than this are split. The same count at every width keeps each output element's summation order, so the widths
    /// give the same bits. 1024 rather than an L1-sized 256 (the GEMM's KC): the weights' micro-panel then streams
    /// from L2 (each weight vector feeds MR pixels, 2·MR FMAs per 2 loads), and fewer blocks mean fewer read-modify-
    /// writes of the output; measured 2026-12-04 on Zen 4 (CPU time, 3x3 c64/c128/c256, batch 16): forward 3-5 % and
    /// input gradient 1-3 % less at Vector512 and Vector256 than with 256.</summary>
    private const int KBlock = 1024;

    /// <summary>Tiles of MR grid pixels [q0, q1) (grid rows of <paramref name="gridCols"/>; a pixel's slab offset is
    /// (row − rowFirst)·rowStep + col·colStep) x all output channel panels, one k block at a time (later blocks add
    /// into the output: each element's sum runs over the blocks in order).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Sweep(ref T slab, int q0, int q1, int gridCols, int rowStep, int colStep, int rowFirst,
        int[] segOff, int[] segLen, T[] wp, int wStart, int K, int outChannels, OutputStore store, ref T bias)
    {
        int nr = RowsKernel<T, TV, TS>.NR, mr = RowsKernel<T, TV, TS>.MR;
        Span<int> pix = stackalloc int[mr];
        Span<int> rowOf = stackalloc int[mr];
        Span<int> colOf = stackalloc int[mr];
        Span<int> dstOff = stackalloc int[mr];
        // The segments cut into k blocks of at most KBlock steps: pieces (offset, length) and each block's range of pieces.
        int maxPieces = segOff.Length + K / KBlock + 2;
        Span<int> pieceOff = stackalloc int[maxPieces], pieceLen = stackalloc int[maxPieces];
        Span<int> blockEnd = stackalloc int[maxPieces], blockK0 = stackalloc int[maxPieces + 1];
        int pieces = 0, blocks = 0, inBlock = 0;
        blockK0[0] = 0;
        for (int s = 0; s < segOff.Length; s++)
            for (int done = 0; done < segLen[s];)
            {
                if (inBlock == KBlock) { blockEnd[blocks] = pieces; blockK0[blocks + 1] = blockK0[blocks] + inBlock; blocks++; inBlock = 0; }
                int len = Math.Min(segLen[s] - done, KBlock - inBlock);
                pieceOff[pieces] = segOff[s] + done; pieceLen[pieces] = len; pieces++;
                inBlock += len; done += len;
            }
        blockEnd[blocks++] = pieces;
        ref T tile = ref ConvBuffers<T>.Tile.Get(mr * nr);
        for (int j0 = 0; j0 < outChannels; j0 += nr)
        {
            int cols = Math.Min(nr, outChannels - j0);
            for (int b = 0; b < blocks; b++)
            {
                int p0 = b == 0 ? 0 : blockEnd[b - 1], p1 = blockEnd[b];
                var offs = pieceOff[p0..p1];
                var lens = pieceLen[p0..p1];
                ref T panel = ref wp[wStart + j0 * K + blockK0[b] * nr];
                bool first = b == 0;
                int row = q0 / gridCols, col = q0 % gridCols;
                for (int q = q0; q < q1; q += mr)
                {
                    int valid = Math.Min(mr, q1 - q);
                    for (int r = 0; r < mr; r++)
                    {
                        if (r < valid)
                        {
                            rowOf[r] = row; colOf[r] = col;
                            if (++col == gridCols) { col = 0; row++; }
                        }
                        else { rowOf[r] = rowOf[valid - 1]; colOf[r] = colOf[valid - 1]; }
                        pix[r] = (rowOf[r] - rowFirst) * rowStep + colOf[r] * colStep;
                    }
                    if (valid == mr && cols == nr && store.Contiguous)
                    {
                        // Full tile into channels-last output: straight from the registers.
                        for (int r = 0; r < mr; r++) dstOff[r] = store.Offset(rowOf[r], colOf[r], j0);
                        RowsKernel<T, TV, TS>.Run(ref slab, pix, offs, lens, ref panel, ref store.Origin, dstOff, 1,
                            ref Unsafe.Add(ref bias, j0), addBias: first, accumulate: !first);
                        continue;
                    }
                    RowsKernel<T, TV, TS>.Run(ref slab, pix, offs, lens, ref panel, ref tile);
                    store.Put(ref tile, nr, rowOf, colOf, valid, j0, cols, ref Unsafe.Add(ref bias, j0), accumulate: !first);
                }
            }
        }
    }

    private static (int[] Off, int[] Len) ForwardSegments(ConvGeometry g, int cols)
    {
        int cg = g.Cg;
        if (g.DW == 1)
        {
            var off = new int[g.KH];
            var len = new int[g.KH];
            for (int kh = 0; kh < g.KH; kh++) { off[kh] = kh * g.DH * cols * cg; len[kh] = g.KW * cg; }
            return (off, len);
        }
        var o = new int[g.Taps];
        var l = new int[g.Taps];
        for (int t = 0; t < g.Taps; t++) { o[t] = (t / g.KW * g.DH * cols + t % g.KW * g.DW) * cg; l[t] = cg; }
        return (o, l);
    }

    private static void Pack(int groups, Action<int> pack)
    {
        if (groups >= 4) IntraOpPool.For(groups, pack);
        else for (int gi = 0; gi < groups; gi++) pack(gi);
    }

    /// <summary>Channels-first outputs: a work item's band of output rows is computed channels-last into a per-thread
    /// buffer (full tiles stored from registers) and transposed into place at the end, in 8x8 blocks.</summary>
    private static class BandBuffer
    {
        public static bool For(Act<T> dst, int cols, int row0, int row1, int channels, out OutputStore store)
        {
            store = default;
            if (dst.SC == 1 || dst.SW != 1 || dst.SH != cols) return false;
            var buf = ConvBuffers<T>.Row.GetArray((row1 - row0) * cols * channels, out int start);
            var act = new Act<T>(buf, start - row0 * cols * channels, 0, 1, cols * channels, channels);
            store = new OutputStore(act, 0, 0, channels, cols, 1, 1, 0, 0);
            return true;
        }

        public static void Flush(Act<T> dst, int n, int c0, int channels, int cols, int row0, int row1)
        {
            var buf = ConvBuffers<T>.Row.GetArray(0, out int start);
            Transpose.Run(ref buf[start], channels, ref dst.Data[dst.Index(n, c0, row0, 0)], dst.SC, (row1 - row0) * cols, channels);
        }
    }

    /// <summary>Writes finished tiles: tile row r is grid pixel q + r at image position (A + row·SH, B + col·SW),
    /// column j output channel c0 + j0 + j, plus bias[j].</summary>
    private readonly struct OutputStore(Act<T> dst, int n, int c0, int channels, int gridCols, int sh, int sw, int a, int b)
    {
        /// <summary>Output channels are adjacent (channels-last): full tiles are stored from the kernel's registers.</summary>
        public bool Contiguous => dst.SC == 1;
        public ref T Origin => ref MemoryMarshal.GetArrayDataReference(dst.Data);

        /// <summary>Index of output channel c0 + j0 at grid pixel (row, col).</summary>
        public int Offset(int row, int col, int j0)
            => dst.Offset + n * dst.SN + (c0 + j0) * dst.SC + (a + row * sh) * dst.SH + (b + col * sw) * dst.SW;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Put(ref T tile, int ldt, ReadOnlySpan<int> rowOf, ReadOnlySpan<int> colOf, int rows, int j0, int cols, ref T bias, bool accumulate)
        {
            ref T d0 = ref MemoryMarshal.GetArrayDataReference(dst.Data);
            for (int r = 0; r < rows; r++)
            {
                int h = a + rowOf[r] * sh, w = b + colOf[r] * sw;
                ref T d = ref Unsafe.Add(ref d0, dst.Offset + n * dst.SN + (c0 + j0) * dst.SC + h * dst.SH + w * dst.SW);
                ref T t = ref Unsafe.Add(ref tile, r * ldt);
                if (accumulate)
                {
                    if (dst.SC == 1) Runs.Add(ref t, ref d, cols);
                    else
                        for (int j = 0; j < cols; j++)
                            Unsafe.Add(ref d, j * dst.SC) = Gemm.ScalarOps.Add(Unsafe.Add(ref d, j * dst.SC), Unsafe.Add(ref t, j));
                }
                else if (dst.SC == 1)
                {
                    Runs.Copy(ref t, ref d, cols);
                    Runs.Add(ref bias, ref d, cols);
                }
                else
                    for (int j = 0; j < cols; j++)
                        Unsafe.Add(ref d, j * dst.SC) = Gemm.ScalarOps.Add(Unsafe.Add(ref t, j), Unsafe.Add(ref bias, j));
            }
        }

        public void Zero(int q0, int q1)
        {
            for (int q = q0; q < q1; q++)
                for (int c = 0; c < channels; c++)
                    dst.Data[dst.Index(n, c0 + c, a + q / gridCols * sh, b + q % gridCols * sw)] = default;
        }
    }

    /// <summary>One stride phase (A, B) of the input gradient: its grid (Rows x Cols pixels of dx), its taps in
    /// segment order, and the dy offsets (E per tap row, F per tap column) they read.</summary>
    private sealed class PhasePlan
    {
        public int A, B, Rows, Cols, EMin, EMax, FMin, FMax, K, WeightStart;
        public int[] TapKh = [], TapKw = [], SegOff = [], SegLen = [];
        private int[] _khList = [], _e = [], _kwList = [], _f = [];
        private int[] _runStart = [], _runCount = [];

        public static PhasePlan Create(ConvGeometry g, int a, int b)
        {
            var p = new PhasePlan { A = a, B = b };
            p.Rows = a < g.H ? (g.H - a + g.SH - 1) / g.SH : 0;
            p.Cols = b < g.W ? (g.W - b + g.SW - 1) / g.SW : 0;
            var kh = new List<int>(); var e = new List<int>();
            for (int k = 0; k < g.KH; k++)
            {
                int v = a + g.PH - k * g.DH;
                if (ConvGeometry.FloorDiv(v, g.SH) * g.SH == v) { kh.Add(k); e.Add(ConvGeometry.FloorDiv(v, g.SH)); }
            }
            // Columns in ascending dy offset f (descending kw), so adjacent offsets merge into one run.
            var kw = new List<int>(); var f = new List<int>();
            for (int k = g.KW - 1; k >= 0; k--)
            {
                int v = b + g.PW - k * g.DW;
                if (ConvGeometry.FloorDiv(v, g.SW) * g.SW == v) { kw.Add(k); f.Add(ConvGeometry.FloorDiv(v, g.SW)); }
            }
            p._khList = [.. kh]; p._e = [.. e]; p._kwList = [.. kw]; p._f = [.. f];
            if (kh.Count == 0 || kw.Count == 0) return p;
            p.EMin = e.Min(); p.EMax = e.Max(); p.FMin = f.Min(); p.FMax = f.Max();
            var runStart = new List<int>(); var runCount = new List<int>();
            for (int i = 0; i < f.Count; i++)
            {
                if (i > 0 && f[i] == f[i - 1] + 1) runCount[^1]++;
                else { runStart.Add(i); runCount.Add(1); }
            }
            p._runStart = [.. runStart]; p._runCount = [.. runCount];
            var tkh = new List<int>(); var tkw = new List<int>();
            foreach (int k in kh) foreach (int c in kw) { tkh.Add(k); tkw.Add(c); }
            p.TapKh = [.. tkh]; p.TapKw = [.. tkw];
            p.K = tkh.Count * g.Og;
            return p;
        }

        /// <summary>Segment offsets (relative to a pixel's slab offset) and lengths for a slab of the given width.</summary>
        public (int[] Off, int[] Len) Segments(int slabCols, int channels)
        {
            int runs = _runStart.Length;
            var off = new int[_khList.Length * runs];
            var len = new int[off.Length];
            for (int i = 0; i < _khList.Length; i++)
                for (int r = 0; r < runs; r++)
                {
                    off[i * runs + r] = ((_e[i] - EMin) * slabCols + _f[_runStart[r]] - FMin) * channels;
                    len[i * runs + r] = _runCount[r] * channels;
                }
            return (off, len);
        }
    }

    /// <summary>Input-gradient weights of one phase and group: rows k = (tap in segment order, o), columns c.</summary>
    private readonly struct PhaseWeights(WeightView<T> w, int o0, int og, int cg, int[] tapKh, int[] tapKw) : IWeightSource<T>
    {
        public int Count => cg;
        public int K => tapKh.Length * og;
        public T[] Data => w.Data;
        public int IndexOfI(int i) => i * w.SC;
        public int IndexOfP(int p) { int t = p / og; return w.Offset + (o0 + p % og) * w.SO + tapKh[t] * w.SH + tapKw[t] * w.SW; }
    }
}
