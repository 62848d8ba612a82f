using ILGPU;
using ILGPU.Runtime;
using Sparkle.Gpu.Kernels;
using Sparkle.Tensors;

namespace Sparkle.Gpu;

/// <summary>
/// The tiled depthwise passes (<see cref="GpuConvKernel.DepthwiseTiled"/>, <see cref="DepthwiseKernels"/>): the plan's
/// tile choice and the launches. Column stride and dilation 1 (forward and weight gradient), stride 1 on both axes for
/// the input gradient; everything else stays on the per-element <see cref="GpuConvKernel.Depthwise"/> kernels.
/// </summary>
public sealed partial class IlgpuBackend
{
    /// <summary>Let the plan pick the shared-memory depthwise kernels where the geometry allows (default on). Off: the
    /// per-element depthwise kernels (A/B timing, tests).</summary>
    public bool TiledDepthwise { get; set; } = true;

    /// <summary>Override of the depthwise tile: channel lanes, column lanes (4 outputs each) and rows of threads for the
    /// forward / input gradient; the weight gradient uses the lanes and a pixel tile of Rows x 4·Cols. Null: chosen from the
    /// device's group size and layout (channels-last 32 lanes x 2 x up to 4 rows; NCHW 1 x 8 x up to 16; the weight
    /// gradient 32 lanes x up to 14 tap jobs over tiles of up to 8 x 16 pixels). Tests set it.</summary>
    public (int Lanes, int Cols, int Rows)? DepthwiseGroup { get; set; }

    /// <summary>The depthwise weight gradient splits its reduction into more parts (at most 256) until its grid has at least
    /// this many blocks (default 512, ~4 per SM of an H100): with C/32 channel blocks and one tap-job group, the
    /// ConvWeightGradChunk parts alone would leave most SMs idle. The parts depend on the geometry and the settings only, so
    /// results stay reproducible. Tests set 1 to keep a single part.</summary>
    public int DepthwiseWeightGradMinBlocks { get; set; } = 512;

    private const int DepthwiseSharedBudget = 48 * 1024;

    /// <summary>The tiled depthwise plan for a depthwise pass, or null where the geometry or the shared memory rules it out.</summary>
    private GpuConvPlan? DepthwisePlan(GpuConvPass pass, in ConvArgs a, int groups, DType dtype, long m, long n, long k)
    {
        if (!TiledDepthwise || a.SW != 1 || a.DW != 1 || (pass == GpuConvPass.BackwardInput && a.SH != 1)) return null;
        var d = DepthwiseTile(pass, a, dtype == DType.Float64 ? 8 : 4);
        if (d is not { } t) return null;
        if ((a.C + t.Lanes - 1) / t.Lanes > 65535 || (pass != GpuConvPass.BackwardWeight && a.N > 65535)) return null;   // grid y, z
        long threads = (long)t.Lanes * (pass == GpuConvPass.BackwardWeight ? t.JobLanes : t.Cols * t.Rows);
        return new GpuConvPlan(pass, GpuConvKernel.DepthwiseTiled, groups, m, n, k, t.Lanes, (int)(threads / t.Lanes), DepthwiseKernels.Run,
            t.Parts, t.TilesPerPart, 1, groups * m * n * k, t.Rows, DepthwiseKernels.Run * t.Cols, t.SharedBytes);
    }

    private readonly record struct DwTile(int Lanes, int Cols, int Rows, int JobLanes, int Parts, int TilesPerPart, int SharedBytes);

    private DwTile? DepthwiseTile(GpuConvPass pass, in ConvArgs a, int elem)
    {
        int maxT = _accelerator.MaxNumThreadsPerGroup;
        long budget = Math.Min(DepthwiseSharedBudget, _accelerator.MaxSharedMemoryPerGroup);
        bool cl = a.ChannelsLast != 0;
        var probe = new DepthwiseArgs { KH = a.KH, KW = a.KW, SH = pass == GpuConvPass.BackwardInput ? 1 : a.SH, DH = a.DH };
        if (pass != GpuConvPass.BackwardWeight)
        {
            long Bytes(int lanes, int cols, int rows) =>
                (long)DepthwiseKernels.CorrelateShared(probe with { Lanes = lanes, Cols = cols, Rows = rows }) * elem;
            if (DepthwiseGroup is { } g)
            {
                Validate(g, maxT);
                long bytes = Bytes(g.Lanes, g.Cols, g.Rows);
                return bytes <= budget ? new DwTile(g.Lanes, g.Cols, g.Rows, 0, 1, 1, (int)bytes) : null;
            }
            int outH = pass == GpuConvPass.Forward ? a.OH : a.H;
            int cap = Math.Min(maxT, 256);
            for (int lanes = cl ? Math.Min(32, cap) : 1; lanes >= 1; lanes /= 2)
            {
                int cols = cl ? Math.Min(2, cap / lanes) : Math.Min(8, cap);
                for (int rows = cl ? 4 : 16; rows >= 1; rows /= 2)
                {
                    if ((long)lanes * cols * rows > cap || (rows > 1 && rows / 2 >= outH)) continue;
                    long bytes = Bytes(lanes, cols, rows);
                    if (bytes <= budget) return new DwTile(lanes, cols, rows, 0, 1, 1, (int)bytes);
                }
            }
            return null;
        }
        int jobs = DepthwiseKernels.Jobs(a.KH, a.KW);
        var (n, c, kh, kw, oh, ow) = (a.N, a.C, a.KH, a.KW, a.OH, a.OW);
        DwTile? Weight(int lanes, int cols, int rows)
        {
            int jobLanes = Math.Min(jobs, Math.Min(16, maxT / lanes));
            if (jobLanes < 1) return null;
            long bytes = (long)DepthwiseKernels.WeightGradShared(probe with { Lanes = lanes, Cols = cols, Rows = rows }) * elem;
            if (bytes > budget) return null;
            // Parts: whole tiles of about ConvWeightGradChunk positions, at most 256 parts and 16M partial elements.
            int tileW = DepthwiseKernels.Run * cols;
            long tiles = (long)n * ((oh + rows - 1) / rows) * ((ow + tileW - 1) / tileW);
            long weights = Math.Max((long)c * kh * kw, 1);
            long maxParts = Math.Clamp(MaxConvWeightPartials / weights, 1, MaxConvWeightParts);
            long perPart = Math.Max(1, ((long)ConvWeightGradChunk + rows * tileW - 1) / (rows * tileW));
            if ((tiles + perPart - 1) / perPart > maxParts) perPart = (tiles + maxParts - 1) / maxParts;
            // Few channel blocks (C/32) leave the grid small: split further, up to DepthwiseWeightGradMinBlocks blocks.
            long others = (long)((c + lanes - 1) / lanes) * ((jobs + jobLanes - 1) / jobLanes);
            long want = Math.Min(maxParts, Math.Max(1, (DepthwiseWeightGradMinBlocks + others - 1) / others));
            if ((tiles + perPart - 1) / perPart < want) perPart = Math.Max(1, (tiles + want - 1) / want);
            perPart = Math.Min(perPart, Math.Max(tiles, 1));
            int parts = (int)((tiles + perPart - 1) / perPart);
            return new DwTile(lanes, cols, rows, jobLanes, Math.Max(parts, 1), (int)perPart, (int)bytes);
        }
        if (DepthwiseGroup is { } o)
        {
            Validate(o, maxT);
            return Weight(o.Lanes, o.Cols, o.Rows);
        }
        for (int lanes = Math.Min(32, maxT); lanes >= 1; lanes /= 2)
        {
            int cols = Math.Clamp((a.OW + DepthwiseKernels.Run - 1) / DepthwiseKernels.Run, 1, 4);
            for (int rows = 8; rows >= 1; rows /= 2)
            {
                if (rows > 1 && rows / 2 >= a.OH) continue;
                if (Weight(lanes, cols, rows) is { } t) return t;
            }
        }
        return null;
    }

    private static void Validate((int Lanes, int Cols, int Rows) g, int maxT)
    {
        if (g.Lanes < 1 || g.Cols < 1 || g.Rows < 1 || (long)g.Lanes * g.Cols * g.Rows > maxT)
            throw new ArgumentOutOfRangeException(nameof(DepthwiseGroup), $"DepthwiseGroup {g}: each at least 1 and Lanes·Cols·Rows <= {maxT}.");
    }

    /// <summary>1 when the operand's W stride is 1 (NCHW order: stage column-fastest), else 0 (channel-fastest).</summary>
    private static int ColumnFast(Tensor t) => t.Size(3) > 1 && t.Stride(3) == 1 ? 1 : 0;

    private DepthwiseArgs DwArgs(in ConvArgs a, GpuConvPlan plan) => new()
    {
        N = a.N, C = a.C, KH = a.KH, KW = a.KW, DH = a.DH,
        WOff = a.WOff, WsC = a.WsO, WsH = a.WsH, WsW = a.WsW,
        Lanes = plan.Tx, Cols = plan.TileCols / DepthwiseKernels.Run, Rows = plan.TileRows,
    };

    private void DepthwiseForward<T, TE>(Tensor x, Tensor w, Tensor? b, Tensor y, in ConvArgs a, GpuConvPlan plan)
        where T : unmanaged where TE : struct, IElement<T>
    {
        var d = DwArgs(a, plan) with
        {
            InH = a.H, InW = a.W, OutH = a.OH, OutW = a.OW, SH = a.SH, PH = a.PH, PW = a.PW,
            IOff = a.XOff, IsN = a.XsN, IsC = a.XsC, IsH = a.XsH, IsW = a.XsW,
            OOff = a.YOff, OsN = a.YsN, OsC = a.YsC, OsH = a.YsH, OsW = a.YsW,
            BOff = a.BOff, BS = a.BS, HasBias = a.HasBias, InColumnFast = ColumnFast(x),
        };
        var wv = View<T>(w);
        Correlate<T, TE>(View<T>(x), wv, b is null ? wv : View<T>(b), View<T>(y), d, a, plan);
    }

    private void DepthwiseBackwardInput<T, TE>(Tensor dy, Tensor w, Tensor dx, in ConvArgs a, GpuConvPlan plan)
        where T : unmanaged where TE : struct, IElement<T>
    {
        // dx = dy correlated with the flipped kernel, padded by (k − 1)·d − p (stride 1).
        var d = DwArgs(a, plan) with
        {
            InH = a.OH, InW = a.OW, OutH = a.H, OutW = a.W, SH = 1, PH = (a.KH - 1) * a.DH - a.PH, PW = a.KW - 1 - a.PW,
            IOff = a.YOff, IsN = a.YsN, IsC = a.YsC, IsH = a.YsH, IsW = a.YsW,
            OOff = a.XOff, OsN = a.XsN, OsC = a.XsC, OsH = a.XsH, OsW = a.XsW,
            Flip = 1, InColumnFast = ColumnFast(dy),
        };
        var wv = View<T>(w);
        Correlate<T, TE>(View<T>(dy), wv, wv, View<T>(dx), d, a, plan);
    }

    private void Correlate<T, TE>(ArrayView1D<T, Stride1D.Dense> input, ArrayView1D<T, Stride1D.Dense> w, ArrayView1D<T, Stride1D.Dense> bias,
        ArrayView1D<T, Stride1D.Dense> output, DepthwiseArgs d, in ConvArgs a, GpuConvPlan plan)
        where T : unmanaged where TE : struct, IElement<T>
    {
        var kernel = (Action<KernelConfig, ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, DepthwiseArgs>)
            _tiledConvKernels.GetOrAdd(("DepthwiseCorrelate", typeof(T)), _ => _accelerator.LoadStreamKernel<ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>,
                ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, DepthwiseArgs>(DepthwiseKernels.Correlate<T, TE>));
        int tileW = DepthwiseKernels.Run * d.Cols;
        long tiles = (long)((d.OutH + d.Rows - 1) / d.Rows) * ((d.OutW + tileW - 1) / tileW);
        int threads = d.Lanes * d.Cols * d.Rows, blocksC = (d.C + d.Lanes - 1) / d.Lanes;
        if (tiles > int.MaxValue) throw new NotSupportedException($"Depthwise conv grid x {tiles} is too large.");
        var config = new KernelConfig(new Index3D((int)tiles, blocksC, d.N), new Index3D(threads, 1, 1),
            SharedMemoryConfig.RequestDynamic<T>(DepthwiseKernels.CorrelateShared(d)));
        lock (_gate) Timed(plan.LaunchName, tiles * blocksC * d.N * threads, Detail(a, plan), () => kernel(config, input, w, bias, output, d));
    }

    /// <summary>The weight gradient into <paramref name="dst"/>: dw itself (one part) or the (parts, |w|) partial buffer.</summary>
    private void DepthwiseBackwardWeight<T, TE>(Tensor dy, Tensor x, ArrayView1D<T, Stride1D.Dense> dst, in ConvArgs a, GpuConvPlan plan)
        where T : unmanaged where TE : struct, IElement<T>
    {
        var d = DwArgs(a, plan) with
        {
            InH = a.H, InW = a.W, OutH = a.OH, OutW = a.OW, SH = a.SH, PH = a.PH, PW = a.PW,
            IOff = a.XOff, IsN = a.XsN, IsC = a.XsC, IsH = a.XsH, IsW = a.XsW,
            OOff = a.YOff, OsN = a.YsN, OsC = a.YsC, OsH = a.YsH, OsW = a.YsW,
            InColumnFast = ColumnFast(x), DyColumnFast = ColumnFast(dy),
            TilesPerPart = plan.Chunk, Parts = plan.Parts, Split = plan.Parts > 1 ? 1 : 0,
        };
        var kernel = (Action<KernelConfig, ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, DepthwiseArgs>)
            _tiledConvKernels.GetOrAdd(("DepthwiseWeightGrad", typeof(T)), _ => _accelerator.LoadStreamKernel<ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>,
                ArrayView1D<T, Stride1D.Dense>, DepthwiseArgs>(DepthwiseKernels.WeightGrad<T, TE>));
        int jobLanes = plan.Ty, jobGroups = (DepthwiseKernels.Jobs(a.KH, a.KW) + jobLanes - 1) / jobLanes;
        int blocksC = (d.C + d.Lanes - 1) / d.Lanes;
        var config = new KernelConfig(new Index3D(plan.Parts, blocksC, jobGroups), new Index3D(d.Lanes * jobLanes, 1, 1),
            SharedMemoryConfig.RequestDynamic<T>(DepthwiseKernels.WeightGradShared(d)));
        var (yv, xv) = (View<T>(dy), View<T>(x));
        lock (_gate) Timed(plan.LaunchName, (long)plan.Parts * blocksC * jobGroups * d.Lanes * jobLanes, Detail(a, plan), () => kernel(config, xv, yv, dst, d));
    }
}
