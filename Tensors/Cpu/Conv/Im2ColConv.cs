using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Sparkle.Tensors.Cpu.Gemm;

namespace Sparkle.Tensors.Cpu.Conv;

/// <summary>A per-channel vector (bias): element o at Data[Offset + o·Stride].</summary>
internal readonly record struct Vec<T>(T[] Data, int Offset, int Stride)
{
    public T this[int o] => Data[Offset + o * Stride];
}

/// <summary>
/// The general convolution: implicit GEMM with the packed micro-kernels (any groups, stride, padding,
/// dilation; channels-first or channels-last). Three GEMMs per image and group:
/// <list type="bullet">
/// <item>forward, channels-first: Y[o, q] = W[o, (c,kh,kw)] · im2col(X)[(c,kh,kw), q] (weights packed once, the
/// im2col micro-panel packed on the fly, Y stored directly);</item>
/// <item>forward, channels-last: Y[q, o] = im2col(X)[q, (kh,kw,c)] · Wᵀ[(kh,kw,c), o] over all pixels of the batch;</item>
/// <item>input gradient: the column matrix Wᵀ·dY, added into dX by the col2im tile sink;</item>
/// </list>
/// Work items are cut by shape alone and each output element belongs to one item, so results do not
/// depend on the thread count.
/// </summary>
internal static class Im2ColConv<T, TK> where T : unmanaged, INumber<T> where TK : IMicroKernel<T>
{
    public static void ForwardNchw(Act<T> x, WeightView<T> w, Vec<T>? bias, Act<T> y, ConvGeometry g)
    {
        int mr = TK.MR, K = g.K, og = g.Og, P = g.P;
        int kcStep = ConvGemm<T, TK>.KcStep(K), groupSize = WeightPacking.GroupSize(og, K, mr), extent = RoundUp(og, mr);
        var wp = ConvBuffers<T>.Weights.GetArray(g.G * groupSize, out int ws);
        PackGroups(g.G, gi => WeightPacking.Pack<T, WeightSources.OutByCTap<T>>(new(w, gi * og, og, g.Cg), mr, kcStep, wp, ws + gi * groupSize));
        // Pixel chunks small enough that an item's C block (og x chunk) stays in L2 across the k blocks.
        int chunk = ChunkSize(P, Math.Max(TK.NR, 32768 / Math.Max(1, og)), TK.NR);
        int chunks = (P + chunk - 1) / chunk;
        IntraOpPool.For(g.N * g.G * chunks, item =>
        {
            int n = item / (g.G * chunks), gi = item / chunks % g.G, q0 = item % chunks * chunk, qn = Math.Min(chunk, P - q0);
            var a = new Prepacked<T>(wp, ws + gi * groupSize, extent);
            var b = new Im2ColPanelNchw<T>(x, g, n, gi * g.Cg, q0);
            var c = new MatrixSink<T>(y.Data, y.Offset + n * y.SN + gi * og * y.SC + q0, y.SC);
            ConvGemm<T, TK>.Run(ref a, ref b, ref c, og, qn, K, accumulate: false);
            if (bias is { } bv)
                for (int o = 0; o < og; o++)
                    Runs.AddScalar(bv[gi * og + o], ref y.Data[y.Offset + n * y.SN + (gi * og + o) * y.SC + q0], qn);
        });
    }

    /// <summary>y must be dense channels-last: pixel q of the batch at y.Offset + q·O.</summary>
    public static void ForwardNhwc(Act<T> x, WeightView<T> w, Vec<T>? bias, Act<T> y, ConvGeometry g)
    {
        int nr = TK.NR, K = g.K, og = g.Og, Q = g.N * g.P;
        int kcStep = ConvGemm<T, TK>.KcStep(K), groupSize = WeightPacking.GroupSize(og, K, nr), extent = RoundUp(og, nr);
        var wp = ConvBuffers<T>.Weights.GetArray(g.G * groupSize + g.O, out int ws);
        PackGroups(g.G, gi => WeightPacking.Pack<T, WeightSources.OutByTapC<T>>(new(w, gi * og, og, g.Cg), nr, kcStep, wp, ws + gi * groupSize));
        int bs = ws + g.G * groupSize;
        if (bias is { } bv0) for (int o = 0; o < g.O; o++) wp[bs + o] = bv0[o];
        bool hasBias = bias.HasValue;
        int chunk = ChunkSize(Q, 2 * TK.MC, TK.MR);
        int chunks = (Q + chunk - 1) / chunk;
        IntraOpPool.For(g.G * chunks, item =>
        {
            int gi = item / chunks, q0 = item % chunks * chunk, qn = Math.Min(chunk, Q - q0);
            var a = new Im2ColRowsNhwc<T>(x, g, gi * g.Cg, q0, q0 + qn);
            var b = new Prepacked<T>(wp, ws + gi * groupSize, extent);
            var c = new MatrixSink<T>(y.Data, y.Offset + q0 * g.O + gi * og, g.O);
            ConvGemm<T, TK>.Run(ref a, ref b, ref c, qn, og, K, accumulate: false);
            if (hasBias)
                for (int q = 0; q < qn; q++)
                    Runs.Add(ref wp[bs + gi * og], ref y.Data[y.Offset + (q0 + q) * g.O + gi * og], og);
        });
    }

    public static void BackwardInputNchw(Act<T> dy, WeightView<T> w, Act<T> dx, ConvGeometry g)
    {
        int mr = TK.MR, taps = g.Taps, og = g.Og, rowsPerGroup = g.Cg * taps;
        int kcStep = ConvGemm<T, TK>.KcStep(og), groupSize = WeightPacking.GroupSize(rowsPerGroup, og, mr), extent = RoundUp(rowsPerGroup, mr);
        var wp = ConvBuffers<T>.Weights.GetArray(g.G * groupSize, out int ws);
        PackGroups(g.G, gi => WeightPacking.Pack<T, WeightSources.CTapByOut<T>>(new(w, gi * og, og, g.Cg), mr, kcStep, wp, ws + gi * groupSize));
        // Channel chunks of about two A blocks of rows; a chunk's first row must start a micro-panel.
        int unit = mr / Gcd(mr, taps);
        int cChunk = Math.Max(unit, RoundUp(Math.Max(1, 2 * TK.MC / taps), unit));
        if (cChunk >= g.Cg) cChunk = g.Cg;
        int chunks = (g.Cg + cChunk - 1) / cChunk;
        IntraOpPool.For(g.N * g.G * chunks, item =>
        {
            int n = item / (g.G * chunks), gi = item / chunks % g.G, c0 = item % chunks * cChunk, cn = Math.Min(cChunk, g.Cg - c0);
            ClearChannels(dx, g, n, gi * g.Cg + c0, cn);
            var a = new Prepacked<T>(wp, ws + gi * groupSize, extent, c0 * taps);
            var b = new RowsPanelNchw<T>(dy, g.OW, n, gi * og, 0);
            var c = new Col2ImNchw<T>(dx, g, n, gi * g.Cg + c0, 0);
            ConvGemm<T, TK>.Run(ref a, ref b, ref c, cn * taps, g.P, og, accumulate: true);
        });
    }

    public static void BackwardInputNhwc(Act<T> dy, WeightView<T> w, Act<T> dx, ConvGeometry g)
    {
        int nr = TK.NR, taps = g.Taps, og = g.Og, colsPerGroup = g.Cg * taps;
        int kcStep = ConvGemm<T, TK>.KcStep(og), groupSize = WeightPacking.GroupSize(colsPerGroup, og, nr), extent = RoundUp(colsPerGroup, nr);
        var wp = ConvBuffers<T>.Weights.GetArray(g.G * groupSize, out int ws);
        PackGroups(g.G, gi => WeightPacking.Pack<T, WeightSources.TapCByOut<T>>(new(w, gi * og, og, g.Cg), nr, kcStep, wp, ws + gi * groupSize));
        IntraOpPool.For(g.N * g.G, item =>
        {
            int n = item / g.G, gi = item % g.G;
            ClearChannels(dx, g, n, gi * g.Cg, g.Cg);
            var a = new RowsNhwc<T>(dy, g.OW, n, gi * og, 0, g.P);
            var b = new Prepacked<T>(wp, ws + gi * groupSize, extent);
            var c = new Col2ImNhwc<T>(dx, g, n, gi * g.Cg, 0);
            ConvGemm<T, TK>.Run(ref a, ref b, ref c, g.P, colsPerGroup, og, accumulate: true);
        });
    }

    private static void PackGroups(int groups, Action<int> pack)
    {
        if (groups >= 4) IntraOpPool.For(groups, pack);
        else for (int gi = 0; gi < groups; gi++) pack(gi);
    }

    private static void ClearChannels(Act<T> t, ConvGeometry g, int n, int c0, int cn)
    {
        ref T d0 = ref MemoryMarshal.GetArrayDataReference(t.Data);
        if (t.SC == 1)
        {
            for (int h = 0; h < g.H; h++)
                for (int w = 0; w < g.W; w++)
                    Runs.Clear(ref Unsafe.Add(ref d0, t.Index(n, c0, h, w)), cn);
            return;
        }
        for (int c = c0; c < c0 + cn; c++)
            for (int h = 0; h < g.H; h++)
            {
                if (t.SW == 1) Runs.Clear(ref Unsafe.Add(ref d0, t.Index(n, c, h, 0)), g.W);
                else for (int w = 0; w < g.W; w++) Unsafe.Add(ref d0, t.Index(n, c, h, w)) = default;
            }
    }

    private static int ChunkSize(int total, int target, int multiple)
    {
        int chunks = Math.Max(1, (total + target - 1) / target);
        return RoundUp((total + chunks - 1) / chunks, multiple);
    }

    private static int RoundUp(int x, int m) => (x + m - 1) / m * m;
    private static int Gcd(int a, int b) => b == 0 ? a : Gcd(b, a % b);
}
