namespace Sparkle.Tensors.Cpu.Conv;

/// <summary>The convolution algorithms of the CPU backend (docs/conv.md).</summary>
internal enum ConvAlgorithm
{
    /// <summary>Implicit GEMM, channels-first: im2col micro-panels packed on the fly (any groups, stride, dilation).</summary>
    Im2ColNchw,
    /// <summary>Implicit GEMM, channels-last: im2col rows packed on the fly, the batch's pixels as one GEMM dimension.</summary>
    Im2ColNhwc,
    /// <summary>1x1, no padding, one group: plain GEMMs over the activations in place (strided: a compact gather).</summary>
    Pointwise,
    /// <summary>Direct kernel over zero-padded channels-last slabs (AVX2+FMA): no packing of activations, any layout.</summary>
    Slab,
    /// <summary>Depthwise (groups = channels = outputs), channels-first: per plane, vectorised along W.</summary>
    DepthwiseNchw,
    /// <summary>Depthwise, channels-last: per window of channels, vectorised along C.</summary>
    DepthwiseNhwc,
    /// <summary>Weight gradient: packed GEMM whose packers copy from channels-last slabs of x and dy (any layout).</summary>
    SlabWeightGrad,
    /// <summary>Explicit im2col of a chunk of images + one GEMM over all their pixels (small maps, many channels): the
    /// weights are reused across the batch instead of streamed once per image. All three passes.</summary>
    Batched,
}

/// <summary>What a pass will run: the algorithm, whether the activation it reads must first be copied into
/// that algorithm's layout, and whether that layout is channels-last.</summary>
internal readonly record struct ConvPlan(ConvAlgorithm Algorithm, bool ChannelsLast, bool CopyInput)
{
    /// <summary>The output decides: a dense channels-last y runs channels-last, a contiguous one channels-first.</summary>
    public static ConvPlan Forward(ConvGeometry g, Tensor x, Tensor y)
    {
        if (IsDepthwise(g)) return Depthwise(ConvLayout.IsDenseChannelsLast(y));
        if (UseBatched(g)) return new(ConvAlgorithm.Batched, ConvLayout.IsDenseChannelsLast(y), false);
        if (UsePointwise(g) && IsDense(y)) return new(ConvAlgorithm.Pointwise, ConvLayout.IsDenseChannelsLast(y), false);
        if (UseSlab(g)) return new(ConvAlgorithm.Slab, ConvLayout.IsDenseChannelsLast(y), false);
        if (ConvLayout.IsDenseChannelsLast(y)) return new(ConvAlgorithm.Im2ColNhwc, true, !ConvLayout.UnitC(x));
        return new(ConvAlgorithm.Im2ColNchw, false, !ConvLayout.UnitW(x));
    }

    /// <summary>The input gradient's layout decides, as the output's does for the forward.</summary>
    public static ConvPlan BackwardInput(ConvGeometry g, Tensor dy, Tensor dx)
    {
        if (IsDepthwise(g)) return Depthwise(ConvLayout.IsDenseChannelsLast(dx));
        if (UseBatched(g, BackwardBatchedMaxPixels(g))) return new(ConvAlgorithm.Batched, ConvLayout.IsDenseChannelsLast(dx), false);
        if (UsePointwise(g) && IsDense(dx)) return new(ConvAlgorithm.Pointwise, ConvLayout.IsDenseChannelsLast(dx), false);
        if (UseSlab(g)) return new(ConvAlgorithm.Slab, ConvLayout.IsDenseChannelsLast(dx), false);
        if (ConvLayout.IsDenseChannelsLast(dx)) return new(ConvAlgorithm.Im2ColNhwc, true, !ConvLayout.UnitC(dy));
        return new(ConvAlgorithm.Im2ColNchw, false, !ConvLayout.UnitW(dy));
    }

    /// <summary>The slab kernel is the AVX2+FMA kernel family; machines whose best GEMM micro-kernel is another one
    /// (Vector512, scalar) run the packed-GEMM path with it.</summary>
    private static bool UseSlab(ConvGeometry g)
        => Gemm.GemmKernels.Current == Gemm.GemmKernel.Vector256 && !Disabled;

    /// <summary>The depthwise kernels read any strides (they copy their window into a padded scratch), so only the
    /// vectorisation axis follows the layout.</summary>
    private static ConvPlan Depthwise(bool channelsLast)
        => channelsLast ? new(ConvAlgorithm.DepthwiseNhwc, true, false) : new(ConvAlgorithm.DepthwiseNchw, false, false);

    /// <summary>One input and one output channel per group: the depthwise kernels.</summary>
    private static bool IsDepthwise(ConvGeometry g) => g.IsDepthwise && g.Og == 1 && !Disabled;

    /// <summary>The batched GEMM for small maps with large weights, every layout: one group, at most
    /// <paramref name="maxPixels"/> output pixels per image and at least 256 Ki weights (more than L2 holds, so a
    /// per-image item would stream them from memory once per image). The forward takes it up to 64 pixels (the SparK
    /// maps of 3x3 and 6x6, ResNet-50's 7x7), the two gradients up to 196 (14x14: ResNet-50's 3x3 256 stage, the SparK
    /// 12x12 maps), where it needs 1.1-1.7x less CPU time than the slab kernels while their forward is as fast.
    /// Measured and argued in docs/conv.md.</summary>
    internal static bool UseBatched(ConvGeometry g, int maxPixels = BatchedMaxPixels)
    {
        if (Pointwise == true && PointwiseConv<float>.Applies(g)) return false; // forced pointwise wins
        if (Batched is { } forced) return forced && !IsDepthwise(g);
        if (Disabled || g.G != 1) return false;
        return g.P <= maxPixels && (long)g.O * g.K >= BatchedMinWeights;
    }

    /// <summary>1x1 convolutions without padding in one group are GEMMs over the activations as they lie
    /// (<see cref="PointwiseConv{T}"/>), every pass, every micro-kernel: no im2col or slab copy (docs/conv.md). Checked
    /// after <see cref="UseBatched"/>: for small maps (ResNet-50's 7x7 stage) one GEMM over the batch's pixels beats
    /// per-image GEMMs with 49 columns (measured: 1.3-2x less CPU time).</summary>
    internal static bool UsePointwise(ConvGeometry g)
    {
        if (Pointwise is { } forced) return forced && PointwiseConv<float>.Applies(g);
        return !Disabled && PointwiseConv<float>.Applies(g);
    }

    /// <summary>The pointwise path stores GEMM results straight into the output: contiguous or dense NHWC.</summary>
    private static bool IsDense(Tensor t) => t.IsContiguous || ConvLayout.IsDenseChannelsLast(t);

    /// <summary>Tests and benchmarks force the pointwise path on (true) or off (false); null = the rule.</summary>
    [ThreadStatic] internal static bool? Pointwise;

    internal const int BatchedMaxPixels = 64;
    internal const int BatchedMaxPixelsBackward = 196;

    /// <summary>The gradients' pixel limit for the batched path; 1x1 convs keep the forward's, since above it their
    /// per-image GEMMs in place (pointwise) do the batched path's GEMM without its im2col copy.</summary>
    private static int BackwardBatchedMaxPixels(ConvGeometry g)
        => UsePointwise(g) ? BatchedMaxPixels : BatchedMaxPixelsBackward;
    internal const long BatchedMinWeights = 256 * 1024;

    /// <summary>Tests and benchmarks force the batched path on (true) or off (false); null = the rule.</summary>
    [ThreadStatic] internal static bool? Batched;

    /// <summary>Tests turn the slab kernels off to run the packed-GEMM path on AVX2 machines.</summary>
    [ThreadStatic] internal static bool Disabled;

    /// <summary>Depthwise kernels vectorise along the input's unit-stride axis; everything else is the slab GEMM
    /// (any layout, every micro-kernel).</summary>
    public static ConvPlan BackwardWeight(ConvGeometry g, Tensor dy, Tensor x)
    {
        if (IsDepthwise(g)) return Depthwise(g.C > 1 && ConvLayout.UnitC(x) && !ConvLayout.UnitW(x));
        if (UseBatched(g, BackwardBatchedMaxPixels(g))) return new(ConvAlgorithm.Batched, ConvLayout.UnitC(x), false);
        if (UsePointwise(g)) return new(ConvAlgorithm.Pointwise, ConvLayout.UnitC(x), false);
        return new(ConvAlgorithm.SlabWeightGrad, ConvLayout.UnitC(x), false);
    }
}
