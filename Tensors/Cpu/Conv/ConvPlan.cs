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
    /// <summary>Direct kernel over zero-padded channels-last slabs at the family's vector width (Vector512/256/128): no
    /// packing of activations, any layout.</summary>
    Slab,
    /// <summary>Depthwise (groups = channels = outputs), channels-first: per plane, vectorised along W.</summary>
    DepthwiseNchw,
    /// <summary>Depthwise, channels-last: per window of channels, vectorised along C.</summary>
    DepthwiseNhwc,
    /// <summary>Weight gradient of the scalar family (and ConvDirect = false): packed GEMM whose packers copy from
    /// channels-last slabs of x and dy (any layout). The vector families run <see cref="Slab"/>.</summary>
    SlabWeightGrad,
    /// <summary>Explicit im2col of a chunk of images + one GEMM over all their pixels (small maps, many channels): the
    /// weights are reused across the batch instead of streamed once per image. All three passes.</summary>
    Batched,
    /// <summary>Winograd F(2x2, 3x3) for 3x3 stride-1 convolutions with many channels: transforms of the tiles + 16
    /// GEMMs, 2.25x fewer multiply-adds (<see cref="WinogradConv{T, TV, TS}"/>). All three passes.</summary>
    Winograd,
}

/// <summary>What a pass will run: the algorithm, whether the activation it reads must first be copied into
/// that algorithm's layout, whether that layout is channels-last, and the vector width it runs (of the direct kernel, or
/// of the GEMM micro-kernel). A pure function
/// of the geometry, the layouts and the backend's <see cref="CpuKernelOptions"/> (which carry the instruction set):
/// nothing hidden steers it, so a test chooses a path by the options it passes.</summary>
internal readonly record struct ConvPlan(ConvAlgorithm Algorithm, bool ChannelsLast, bool CopyInput, SimdWidth Width)
{
    /// <summary>Names the kernel and its width, e.g. "Slab Vector512 channels-last", so a log or a test shows which
    /// instantiation runs (Vector512 cannot be timed on an AVX2 host, only seen).</summary>
    public override string ToString()
        => $"{Algorithm} {(Width == SimdWidth.Scalar ? "scalar" : $"Vector{(int)Width}")} {(ChannelsLast ? "channels-last" : "channels-first")}{(CopyInput ? ", input copied" : "")}";

    /// <summary>The output decides: a dense channels-last y runs channels-last, a contiguous one channels-first.</summary>
    public static ConvPlan Forward(ConvGeometry g, Tensor x, Tensor y, CpuKernelOptions o)
    {
        if (IsDepthwise(g, o)) return Depthwise(ConvLayout.IsDenseChannelsLast(y), o);
        if (UseWinograd(g, o)) return Winograd(x, o);
        if (UseBatched(g, o)) return new(ConvAlgorithm.Batched, ConvLayout.IsDenseChannelsLast(y), false, o.Width);
        if (UsePointwise(g, o) && IsDense(y)) return new(ConvAlgorithm.Pointwise, ConvLayout.IsDenseChannelsLast(y), false, o.Width);
        if (SlabWidth(o) is var sw and not SimdWidth.Scalar) return new(ConvAlgorithm.Slab, ConvLayout.IsDenseChannelsLast(y), false, sw);
        if (ConvLayout.IsDenseChannelsLast(y)) return new(ConvAlgorithm.Im2ColNhwc, true, !ConvLayout.UnitC(x), o.Width);
        return new(ConvAlgorithm.Im2ColNchw, false, !ConvLayout.UnitW(x), o.Width);
    }

    /// <summary>The input gradient's layout decides, as the output's does for the forward.</summary>
    public static ConvPlan BackwardInput(ConvGeometry g, Tensor dy, Tensor dx, CpuKernelOptions o)
    {
        if (IsDepthwise(g, o)) return Depthwise(ConvLayout.IsDenseChannelsLast(dx), o);
        if (UseWinograd(g, o)) return Winograd(dy, o);
        if (UseBatched(g, o, BackwardBatchedMaxPixels(g, o))) return new(ConvAlgorithm.Batched, ConvLayout.IsDenseChannelsLast(dx), false, o.Width);
        if (UsePointwise(g, o) && IsDense(dx)) return new(ConvAlgorithm.Pointwise, ConvLayout.IsDenseChannelsLast(dx), false, o.Width);
        if (SlabWidth(o) is var sw and not SimdWidth.Scalar) return new(ConvAlgorithm.Slab, ConvLayout.IsDenseChannelsLast(dx), false, sw);
        if (ConvLayout.IsDenseChannelsLast(dx)) return new(ConvAlgorithm.Im2ColNhwc, true, !ConvLayout.UnitC(dy), o.Width);
        return new(ConvAlgorithm.Im2ColNchw, false, !ConvLayout.UnitW(dy), o.Width);
    }

    /// <summary>Depthwise kernels vectorise along the input's unit-stride axis; everything else is the direct slab kernel
    /// at the family's width, or the slab GEMM (the scalar family, ConvDirect = false; any layout, every micro-kernel).</summary>
    public static ConvPlan BackwardWeight(ConvGeometry g, Tensor dy, Tensor x, CpuKernelOptions o)
    {
        if (IsDepthwise(g, o)) return Depthwise(g.C > 1 && ConvLayout.UnitC(x) && !ConvLayout.UnitW(x), o);
        if (UseWinograd(g, o)) return new(ConvAlgorithm.Winograd, true, !ConvLayout.UnitC(x) || !ConvLayout.UnitC(dy), WinogradWidth(o));
        if (UseBatched(g, o, UsePointwise(g, o) ? BatchedMaxPixels : BatchedMaxPixelsWeightGrad)) return new(ConvAlgorithm.Batched, ConvLayout.UnitC(x), false, o.Width);
        if (UsePointwise(g, o)) return new(ConvAlgorithm.Pointwise, ConvLayout.UnitC(x), false, o.Width);
        if (SlabWidth(o) is var sw and not SimdWidth.Scalar) return new(ConvAlgorithm.Slab, ConvLayout.UnitC(x), false, sw);
        return new(ConvAlgorithm.SlabWeightGrad, ConvLayout.UnitC(x), false, o.Width);
    }

    /// <summary>The slab kernels' width is the family's vector (Avx512: Vector512, Avx2: Vector256, V128: Vector128). The
    /// Scalar family (no vectors) runs the packed-GEMM path with the scalar micro-kernel, as does ConvDirect = false
    /// (<see cref="SimdWidth.Scalar"/> = no slab kernel). The Vector256 rule is measured (docs/conv.md); Vector512 and
    /// Vector128 follow it by the same argument (the GEMM's loop without the A packing) until measured on such hosts.</summary>
    private static SimdWidth SlabWidth(CpuKernelOptions o)
        => o.ConvDirect && o.ResolvedIsa != CpuIsa.Scalar ? o.Width : SimdWidth.Scalar;

    /// <summary>The depthwise kernels read any strides (they copy their window into a padded scratch), so only the
    /// vectorisation axis follows the layout. They run Vector128 in the V128 and Scalar families (hosts without 256-bit
    /// vectors: ARM64), Vector256 in the others (on AVX-512 too: their loads are bound by the window, not the width).</summary>
    private static ConvPlan Depthwise(bool channelsLast, CpuKernelOptions o)
    {
        var width = o.ResolvedIsa is CpuIsa.V128 or CpuIsa.Scalar ? SimdWidth.V128 : SimdWidth.V256;
        return channelsLast ? new(ConvAlgorithm.DepthwiseNhwc, true, false, width) : new(ConvAlgorithm.DepthwiseNchw, false, false, width);
    }

    /// <summary>The channels-last depthwise kernel's register block: 4 output rows x 4 pixels (16 accumulators) in the
    /// Avx512 family, whose hosts have 32 vector registers for Vector256 code too, else 2 x 4 (AVX2's 16). The bits are
    /// the same either way (each output meets its taps in the same order).</summary>
    internal static bool DepthwiseFourRows(CpuKernelOptions o) => o.ResolvedIsa == CpuIsa.Avx512;

    /// <summary>Winograd reads and writes vectors along C, so it runs channels-last whatever the tensors' layout: an
    /// activation it reads channels-first is copied channels-last first, and a channels-first result is written
    /// channels-last and copied into place (one pass over each: small next to the GEMMs where the rule picks it).</summary>
    private static ConvPlan Winograd(Tensor input, CpuKernelOptions o)
        => new(ConvAlgorithm.Winograd, true, !ConvLayout.UnitC(input), WinogradWidth(o));

    /// <summary>The transforms' vector width; the GEMMs run the family's micro-kernel.</summary>
    private static SimdWidth WinogradWidth(CpuKernelOptions o) => o.Width == SimdWidth.Scalar ? SimdWidth.V128 : o.Width;

    /// <summary>Winograd F(2x2, 3x3) where it applies (3x3, stride 1, one group), only when the options ask for it: on
    /// the measured AVX-512 host (docs/conv.md) its 16 GEMMs per chunk run at ~50 % of the FMA peak against the direct
    /// kernels' 70-97 %, which eats the 2.25x fewer multiply-adds (SparK decoder c768@6: 42 vs 39 ms forward; c64@56:
    /// slower). It becomes the rule's choice once its GEMMs (U packed once per call, V written as packed A panels) are
    /// fast; until then no rule picks it.</summary>
    internal static bool UseWinograd(ConvGeometry g, CpuKernelOptions o)
        => o.ConvWinograd == true && WinogradApplies(g);

    /// <summary>3x3, stride 1, no dilation, one group, padding at most 2 (so the input gradient is again a padded
    /// convolution).</summary>
    internal static bool WinogradApplies(ConvGeometry g)
        => g.KH == 3 && g.KW == 3 && g.SH == 1 && g.SW == 1 && g.DH == 1 && g.DW == 1 && g.G == 1 && g.PH <= 2 && g.PW <= 2
           && g.OH == g.H + 2 * g.PH - 2 && g.OW == g.W + 2 * g.PW - 2;

    /// <summary>One input and one output channel per group: the depthwise kernels.</summary>
    private static bool IsDepthwise(ConvGeometry g, CpuKernelOptions o) => g.IsDepthwise && g.Og == 1 && o.ConvDirect;

    /// <summary>The batched GEMM for small maps with large weights, every layout: one group, at most
    /// <paramref name="maxPixels"/> output pixels per image and at least 256 Ki weights (more than L2 holds, so a
    /// per-image item would stream them from memory once per image). The forward takes it up to 64 pixels (the SparK
    /// maps of 3x3 and 6x6, ResNet-50's 7x7), the two gradients up to 196 (14x14: ResNet-50's 3x3 256 stage, the SparK
    /// 12x12 maps), where it needs 1.1-1.7x less CPU time than the slab kernels while their forward is as fast.
    /// Measured and argued in docs/conv.md.</summary>
    internal static bool UseBatched(ConvGeometry g, CpuKernelOptions o, int maxPixels = BatchedMaxPixels)
    {
        if (o.ConvPointwise == true && PointwiseConv<float>.Applies(g)) return false; // forced pointwise wins
        if (o.ConvBatched is { } forced) return forced && !IsDepthwise(g, o);
        if (!o.ConvDirect || g.G != 1) return false;
        return g.P <= maxPixels && (long)g.O * g.K >= BatchedMinWeights;
    }

    /// <summary>1x1 convolutions without padding in one group are GEMMs over the activations as they lie
    /// (<see cref="PointwiseConv{T}"/>), every pass, every micro-kernel: no im2col or slab copy (docs/conv.md). Checked
    /// after <see cref="UseBatched"/>: for small maps (ResNet-50's 7x7 stage) one GEMM over the batch's pixels beats
    /// per-image GEMMs with 49 columns (measured: 1.3-2x less CPU time).</summary>
    internal static bool UsePointwise(ConvGeometry g, CpuKernelOptions o)
    {
        if (o.ConvPointwise is { } forced) return forced && PointwiseConv<float>.Applies(g);
        return o.ConvDirect && PointwiseConv<float>.Applies(g);
    }

    /// <summary>The pointwise path stores GEMM results straight into the output: contiguous or dense NHWC.</summary>
    private static bool IsDense(Tensor t) => t.IsContiguous || ConvLayout.IsDenseChannelsLast(t);

    internal const int BatchedMaxPixels = 64;
    internal const int BatchedMaxPixelsBackward = 196;
    /// <summary>The weight gradient's limit: since its direct slab kernel (no im2col packing), 14x14 with 256 channels
    /// runs faster there (36-41 vs 42-45 ms CPU at batch 16, Vector512 and Vector256, 2026-12-04), while the SparK
    /// 12x12 maps (P = 144) still tie or favour the batched GEMM (c384@12: 139 vs 160 ms).</summary>
    internal const int BatchedMaxPixelsWeightGrad = 144;
    internal const long BatchedMinWeights = 256 * 1024;

    /// <summary>The gradients' pixel limit for the batched path; 1x1 convs keep the forward's, since above it their
    /// per-image GEMMs in place (pointwise) do the batched path's GEMM without its im2col copy.</summary>
    private static int BackwardBatchedMaxPixels(ConvGeometry g, CpuKernelOptions o)
        => UsePointwise(g, o) ? BatchedMaxPixels : BatchedMaxPixelsBackward;
}
