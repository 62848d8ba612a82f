using ILGPU;
using ILGPU.Runtime;

namespace Sparkle.Gpu.Kernels;

/// <summary>
/// One depthwise correlation (one input and one output channel per group) as <see cref="DepthwiseKernels"/> sees it:
/// out[n, c, r, q] = bias[c] + Σ_{ky, kx} in[n, c, r·SH + ky·DH − PH, q + kx − PW] · tap(c, ky, kx), where
/// tap(c, ky, kx) = w[c, ky, kx], or w[c, KH−1−ky, KW−1−kx] when <see cref="Flip"/> is 1. The forward is that with
/// in = x, out = y; the stride-1 input gradient is it with in = dy, out = dx, the kernel flipped and the padding
/// (KH−1)·DH − PH, KW−1 − PW. Column stride and dilation are 1 (the register window slides one column per tap); the row
/// stride SH and dilation DH are free. Every operand has its own offset and strides (NCHW, channels-last, views).
/// The tile: a block of <see cref="Lanes"/> channels x <see cref="Cols"/> column lanes x <see cref="Rows"/> rows of
/// threads; each thread computes <see cref="DepthwiseKernels.Run"/> (4) adjacent outputs of one row and channel.
/// </summary>
public struct DepthwiseArgs
{
    public int N, C, InH, InW, OutH, OutW, KH, KW, SH, DH, PH, PW;
    public int IOff, IsN, IsC, IsH, IsW;
    public int OOff, OsN, OsC, OsH, OsW;
    public int WOff, WsC, WsH, WsW;
    public int BOff, BS, HasBias, Flip;
    /// <summary>Threads of a block: channel lanes (fastest), column lanes, rows.</summary>
    public int Lanes, Cols, Rows;
    /// <summary>1: stage the input window column-fastest (its memory order when its W stride is 1, i.e. NCHW), so
    /// consecutive threads read consecutive addresses; 0: channel-fastest (channels-last).</summary>
    public int InColumnFast;
    /// <summary>Weight gradient only: tiles per part of the N·OH·OW reduction, parts (grid x), 1 when the parts go to the
    /// partial buffer (parts, |w|) for <see cref="ConvKernels.FinishWeight"/>, and whether dy is staged column-fastest.</summary>
    public int TilesPerPart, Parts, Split, DyColumnFast;
}

/// <summary>
/// Depthwise convolution kernels with shared-memory tiles and register blocking (issue 16: ConvNeXt's 7x7 depthwise
/// convs, channels-last). Explicitly grouped, dynamic shared memory; no atomics, fixed summation orders.
/// - <see cref="Correlate{T, TE}"/> (forward; stride-1 input gradient with the flipped kernel): grid (column tiles ·
///   row tiles, channel blocks, N). The block stages its input window — (Rows−1)·SH + (KH−1)·DH + 1 rows by
///   4·Cols + KW − 1 columns by Lanes channels, zero outside the image — and the block's KH·KW taps in shared memory
///   once, then each thread slides along its row: per tap row and window column one input and one tap load from shared
///   memory feed up to 4 multiply-adds (the 4 outputs' taps roll through 4 registers). Each output sums bias, then
///   ky ascending, kx ascending, like <see cref="ConvKernels.Forward{T, TE}"/> (padding adds exact zeros).
/// - <see cref="WeightGrad{T, TE}"/>: grid (parts, channel blocks, tap-job groups); a thread owns one channel and a job
///   = (ky, 4 adjacent kx) and sums dy·x over the pixel tiles of its part (Rows x 4·Cols output positions each, staged
///   with their input window in shared memory), sliding x through 4 registers. Parts go to the partial buffer and
///   <see cref="ConvKernels.FinishWeight{T, TE}"/> adds them in part order.
/// </summary>
public static class DepthwiseKernels
{
    /// <summary>Adjacent outputs (forward) or taps (weight gradient) per thread, in scalar registers.</summary>
    public const int Run = 4;

    /// <summary>Shared elements <see cref="Correlate{T, TE}"/> needs: the input window and the taps.</summary>
    public static int CorrelateShared(in DepthwiseArgs a) => (WindowRows(a, a.Rows) * (Run * a.Cols + a.KW - 1) + a.KH * a.KW) * a.Lanes;

    /// <summary>Tap jobs of the weight gradient: (ky, a run of 4 kx).</summary>
    public static int Jobs(int kh, int kw) => kh * ((kw + Run - 1) / Run);

    /// <summary>Shared elements <see cref="WeightGrad{T, TE}"/> needs: the x window (columns padded to whole runs) and
    /// the dy tile.</summary>
    public static int WeightGradShared(in DepthwiseArgs a) =>
        (WindowRows(a, a.Rows) * WeightWindowCols(a) + a.Rows * Run * a.Cols) * a.Lanes;

    private static int WindowRows(in DepthwiseArgs a, int rows) => (rows - 1) * a.SH + (a.KH - 1) * a.DH + 1;

    private static int WeightWindowCols(in DepthwiseArgs a) => Run * a.Cols + Run * ((a.KW + Run - 1) / Run) - 1;

    public static void Correlate<T, TE>(ArrayView1D<T, Stride1D.Dense> input, ArrayView1D<T, Stride1D.Dense> w,
        ArrayView1D<T, Stride1D.Dense> bias, ArrayView1D<T, Stride1D.Dense> output, DepthwiseArgs a)
        where T : unmanaged where TE : struct, IElement<T>
    {
        var e = default(TE);
        var shared = SharedMemory.GetDynamic<T>();
        int lanes = a.Lanes, tileW = Run * a.Cols;
        int winH = WindowRows(a, a.Rows), winW = tileW + a.KW - 1, taps = a.KH * a.KW;
        int colTiles = (a.OutW + tileW - 1) / tileW;
        int tileRow = Grid.IdxX / colTiles, tileCol = Grid.IdxX - tileRow * colTiles;
        int r0 = tileRow * a.Rows, q0 = tileCol * tileW, c0 = Grid.IdxY * lanes, n = Grid.IdxZ;
        int tid = Group.IdxX, threads = Group.DimX;
        int ih0 = r0 * a.SH - a.PH, iw0 = q0 - a.PW;
        int inN = a.IOff + n * a.IsN;

        // The input window, zero outside the image and past the last channel, in the source's memory order.
        int windowSize = winH * winW * lanes;
        for (int s = tid; s < windowSize; s += threads)
        {
            int lane, col, row;
            if (a.InColumnFast != 0) { col = s % winW; int t = s / winW; lane = t % lanes; row = t / lanes; }
            else { lane = s % lanes; int t = s / lanes; col = t % winW; row = t / winW; }
            int c = c0 + lane, ih = ih0 + row, iw = iw0 + col;
            T v = e.FromDouble(0.0);
            if (c < a.C && ih >= 0 && ih < a.InH && iw >= 0 && iw < a.InW) v = input[inN + c * a.IsC + ih * a.IsH + iw * a.IsW];
            shared[(row * winW + col) * lanes + lane] = v;
        }
        // The taps, [tap][lane], flipped for the input gradient.
        int tapBase = windowSize;
        for (int s = tid; s < taps * lanes; s += threads)
        {
            int lane = s % lanes, tap = s / lanes, c = c0 + lane;
            int ky = tap / a.KW, kx = tap - ky * a.KW;
            if (a.Flip != 0) { ky = a.KH - 1 - ky; kx = a.KW - 1 - kx; }
            shared[tapBase + s] = c < a.C ? w[a.WOff + c * a.WsC + ky * a.WsH + kx * a.WsW] : e.FromDouble(0.0);
        }
        Group.Barrier();

        int myLane = tid % lanes, rest = tid / lanes;
        int colLane = rest % a.Cols, rowLane = rest / a.Cols;
        int cc = c0 + myLane, r = r0 + rowLane, q = q0 + colLane * Run;
        if (rowLane >= a.Rows || cc >= a.C || r >= a.OutH || q >= a.OutW) return;     // no barrier follows
        T b = a.HasBias != 0 ? bias[a.BOff + cc * a.BS] : e.FromDouble(0.0);
        T acc0 = b, acc1 = b, acc2 = b, acc3 = b;
        T zero = e.FromDouble(0.0);
        for (int ky = 0; ky < a.KH; ky++)
        {
            int rowBase = ((rowLane * a.SH + ky * a.DH) * winW + colLane * Run) * lanes + myLane;
            int tapRow = tapBase + ky * a.KW * lanes + myLane;
            // wK holds the tap kx = j − K of output K (zero before the row starts).
            T w0 = zero, w1 = zero, w2 = zero, w3 = zero;
            // Window column j feeds output K with tap j − K where 0 <= j − K < KW. Three loops over j so the steady
            // middle (all four outputs, j = 3 .. KW−1) has no conditions; the ramp (j < 3) and the drain (j >= KW) test
            // each output (uniform branches: j is the same in every thread).
            int j = 0;
            for (; j < Run - 1; j++)
            {
                w3 = w2; w2 = w1; w1 = w0;
                w0 = j < a.KW ? shared[tapRow + j * lanes] : zero;
                T v = shared[rowBase + j * lanes];
                if (j < a.KW) acc0 = e.Add(acc0, e.Mul(v, w0));
                if (j >= 1 && j - 1 < a.KW) acc1 = e.Add(acc1, e.Mul(v, w1));
                if (j >= 2 && j - 2 < a.KW) acc2 = e.Add(acc2, e.Mul(v, w2));
            }
            for (; j < a.KW; j++)
            {
                w3 = w2; w2 = w1; w1 = w0;
                w0 = shared[tapRow + j * lanes];
                T v = shared[rowBase + j * lanes];
                acc0 = e.Add(acc0, e.Mul(v, w0));
                acc1 = e.Add(acc1, e.Mul(v, w1));
                acc2 = e.Add(acc2, e.Mul(v, w2));
                acc3 = e.Add(acc3, e.Mul(v, w3));
            }
            for (; j < a.KW + Run - 1; j++)
            {
                w3 = w2; w2 = w1; w1 = w0;
                w0 = j < a.KW ? shared[tapRow + j * lanes] : zero;
                T v = shared[rowBase + j * lanes];
                if (j < a.KW) acc0 = e.Add(acc0, e.Mul(v, w0));
                if (j >= 1 && j - 1 < a.KW) acc1 = e.Add(acc1, e.Mul(v, w1));
                if (j >= 2 && j - 2 < a.KW) acc2 = e.Add(acc2, e.Mul(v, w2));
                if (j >= 3 && j - 3 < a.KW) acc3 = e.Add(acc3, e.Mul(v, w3));
            }
        }
        int o = a.OOff + n * a.OsN + cc * a.OsC + r * a.OsH + q * a.OsW;
        output[o] = acc0;
        if (q + 1 < a.OutW) output[o + a.OsW] = acc1;
        if (q + 2 < a.OutW) output[o + 2 * a.OsW] = acc2;
        if (q + 3 < a.OutW) output[o + 3 * a.OsW] = acc3;
    }

    /// <summary>dw[c, ky, kx] = Σ_{n, oh, ow} dy[n, c, oh, ow] · x[n, c, oh·SH + ky·DH − PH, ow + kx − PW] (in = x,
    /// out = dy in <see cref="DepthwiseArgs"/>; column stride and dilation 1). Output positions are cut into tiles of
    /// Rows x 4·Cols (row-major per image, images in order); part p = grid x sums tiles [p·TilesPerPart, ...) in that
    /// order, each tile by rows then columns. Threads: Lanes channels (fastest) x job lanes; grid z = job groups.</summary>
    public static void WeightGrad<T, TE>(ArrayView1D<T, Stride1D.Dense> x, ArrayView1D<T, Stride1D.Dense> dy,
        ArrayView1D<T, Stride1D.Dense> dst, DepthwiseArgs a)
        where T : unmanaged where TE : struct, IElement<T>
    {
        var e = default(TE);
        var shared = SharedMemory.GetDynamic<T>();
        int lanes = a.Lanes, tileW = Run * a.Cols, tileH = a.Rows;
        int winH = WindowRows(a, tileH), winW = WeightWindowCols(a);
        int windowSize = winH * winW * lanes, dyBase = windowSize, dySize = tileH * tileW * lanes;
        int colTiles = (a.OutW + tileW - 1) / tileW, rowTiles = (a.OutH + tileH - 1) / tileH;
        int perImage = colTiles * rowTiles, tiles = a.N * perImage;
        int part = Grid.IdxX, c0 = Grid.IdxY * lanes;
        int tid = Group.IdxX, threads = Group.DimX;
        int jobLanes = threads / lanes, kxRuns = (a.KW + Run - 1) / Run;
        int myLane = tid % lanes, job = Grid.IdxZ * jobLanes + tid / lanes;
        int ky = job / kxRuns, kx0 = (job - ky * kxRuns) * Run;
        int c = c0 + myLane;
        T zero = e.FromDouble(0.0);
        T acc0 = zero, acc1 = zero, acc2 = zero, acc3 = zero;
        int t0 = part * a.TilesPerPart, t1 = t0 + a.TilesPerPart < tiles ? t0 + a.TilesPerPart : tiles;
        for (int t = t0; t < t1; t++)
        {
            int n = t / perImage, rt = t - n * perImage;
            int tr = rt / colTiles, tc = rt - tr * colTiles;
            int r0 = tr * tileH, q0 = tc * tileW;
            int ih0 = r0 * a.SH - a.PH, iw0 = q0 - a.PW;
            Group.Barrier();                                    // the previous tile is no longer read
            for (int s = tid; s < windowSize; s += threads)
            {
                int lane, col, row;
                if (a.InColumnFast != 0) { col = s % winW; int u = s / winW; lane = u % lanes; row = u / lanes; }
                else { lane = s % lanes; int u = s / lanes; col = u % winW; row = u / winW; }
                int cs = c0 + lane, ih = ih0 + row, iw = iw0 + col;
                T v = zero;
                if (cs < a.C && ih >= 0 && ih < a.InH && iw >= 0 && iw < a.InW) v = x[a.IOff + n * a.IsN + cs * a.IsC + ih * a.IsH + iw * a.IsW];
                shared[(row * winW + col) * lanes + lane] = v;
            }
            for (int s = tid; s < dySize; s += threads)
            {
                int lane, col, row;
                if (a.DyColumnFast != 0) { col = s % tileW; int u = s / tileW; lane = u % lanes; row = u / lanes; }
                else { lane = s % lanes; int u = s / lanes; col = u % tileW; row = u / tileW; }
                int cs = c0 + lane, oh = r0 + row, ow = q0 + col;
                T v = zero;
                if (cs < a.C && oh < a.OutH && ow < a.OutW) v = dy[a.OOff + n * a.OsN + cs * a.OsC + oh * a.OsH + ow * a.OsW];
                shared[dyBase + (row * tileW + col) * lanes + lane] = v;
            }
            Group.Barrier();
            if (ky >= a.KH) continue;                            // an idle job lane (still at the barriers)
            int rows = a.OutH - r0 < tileH ? a.OutH - r0 : tileH, cols = a.OutW - q0 < tileW ? a.OutW - q0 : tileW;
            for (int rr = 0; rr < rows; rr++)
            {
                int xr = ((rr * a.SH + ky * a.DH) * winW + kx0) * lanes + myLane;
                int dr = dyBase + rr * tileW * lanes + myLane;
                // xK = x at column q + kx0 + K for the current q; one new load per column.
                T x0 = shared[xr], x1 = shared[xr + lanes], x2 = shared[xr + 2 * lanes];
                for (int q = 0; q < cols; q++)
                {
                    T x3 = shared[xr + (q + 3) * lanes];
                    T d = shared[dr + q * lanes];
                    acc0 = e.Add(acc0, e.Mul(d, x0));
                    acc1 = e.Add(acc1, e.Mul(d, x1));
                    acc2 = e.Add(acc2, e.Mul(d, x2));
                    acc3 = e.Add(acc3, e.Mul(d, x3));
                    x0 = x1; x1 = x2; x2 = x3;
                }
            }
        }
        if (ky >= a.KH || c >= a.C) return;
        int taps = a.KH * a.KW, wn = a.C * taps;
        for (int k = 0; k < Run; k++)
        {
            int kx = kx0 + k;
            if (kx >= a.KW) break;
            T v = k == 0 ? acc0 : k == 1 ? acc1 : k == 2 ? acc2 : acc3;
            if (a.Split != 0) dst[part * wn + c * taps + ky * a.KW + kx] = v;
            else dst[a.WOff + c * a.WsC + ky * a.WsH + kx * a.WsW] = v;
        }
    }
}
