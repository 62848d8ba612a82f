namespace Sparkle.Gpu;

/// <summary>The three passes of a dense convolution (ConvTranspose2d's forward is <see cref="BackwardInput"/>, its
/// input gradient <see cref="Forward"/>).</summary>
public enum GpuConvPass { Forward, BackwardInput, BackwardWeight }

/// <summary>Which kernel family a pass runs on the ILGPU backend.</summary>
public enum GpuConvKernel
{
    /// <summary>Implicit GEMM on the shared-memory <c>TiledGemm</c> core, one grid z per group (and split-K part).</summary>
    TiledGemm,
    /// <summary>The same implicit GEMM on the TF32 tensor-core core (<c>Tf32Gemm</c>, mma.sync m16n8k8, FP32 accumulation):
    /// float32 where <see cref="IlgpuBackend.AllowTf32"/> is on and the device can, in place of <see cref="TiledGemm"/>.</summary>
    Tf32,
    /// <summary>One thread per written element (output, input-gradient or weight element), summing its terms.</summary>
    Direct,
    /// <summary>Depthwise (one input and one output channel per group): the per-element kernels, whose sums are only
    /// KH·KW (forward, input gradient) or N·OH·OW split into parts (weight gradient) long.</summary>
    Depthwise,
    /// <summary>Depthwise on the shared-memory kernels of <c>DepthwiseKernels</c>: a block stages an input window (tile +
    /// halo) and its taps once, each thread computes 4 adjacent outputs (forward, stride-1 input gradient with the flipped
    /// kernel) or 4 adjacent taps (weight gradient, partials per part of whole pixel tiles + the finish). Column stride
    /// and dilation 1; other geometries keep <see cref="Depthwise"/>.</summary>
    DepthwiseTiled,
}

/// <summary>
/// What <see cref="IlgpuBackend.PlanConv"/> decided for one geometry and pass: the kernel, the GEMM it computes per group
/// (M x N, reducing K; the direct kernels compute the same product, one thread per element), the block tile, thread group
/// and register micro-tile of the tiled kernel, and the split of the weight gradient's reduction (Parts chunks of Chunk
/// positions, plus one finishing launch). The tiled input gradient runs one GEMM per stride phase (Phases = SH·SW; N and K
/// are then those of the largest phase). Macs: the multiply-adds of the GEMMs the kernel runs (Σ over groups and phases
/// of M·N·K, zero taps in the padding included; the direct kernels' all-taps product). The passes run exactly this plan.
/// A <see cref="GpuConvKernel.Tf32"/> plan has the tiled plan's GEMMs, phases and split on 128x128 tiles of 256 threads
/// (8 warps; Tx = Ty = 16 and Micro = 8: each lane holds 64 accumulators). A <see cref="GpuConvKernel.DepthwiseTiled"/>
/// plan: Tx channel lanes, Ty thread rows per lane (column lanes x rows; the weight gradient's tap-job lanes), Micro = 4
/// outputs or taps per thread, TileRows x TileCols output pixels per block (per staged tile for the weight gradient),
/// SharedBytes of dynamic shared memory, and Chunk = pixel tiles per part of the weight gradient.
/// </summary>
public sealed record GpuConvPlan(GpuConvPass Pass, GpuConvKernel Kernel, int Groups, long M, long N, long K,
    int Tx, int Ty, int Micro, int Parts, int Chunk, int Phases, long Macs, int TileRows = 0, int TileCols = 0, int SharedBytes = 0)
{
    /// <summary>Block tile rows (M) and columns (N) of the tiled kernel; 0 for the direct kernels.</summary>
    public int TileM => Tiled ? Micro * Ty : 0;
    /// <inheritdoc cref="TileM"/>
    public int TileN => Tiled ? Micro * Tx : 0;

    /// <summary>An explicitly grouped implicit GEMM (<see cref="GpuConvKernel.TiledGemm"/> or <see cref="GpuConvKernel.Tf32"/>).</summary>
    public bool Tiled => Kernel is GpuConvKernel.TiledGemm or GpuConvKernel.Tf32;

    /// <summary>Kernel launches the pass makes: 1, or 2 for a split weight gradient (partials, then their sum).</summary>
    public int Launches => Parts > 1 ? 2 : 1;

    /// <summary>The name the pass's main launch has in <see cref="IlgpuBackend.Profile"/>, e.g. "Conv2dBackwardWeight(tiled split)".</summary>
    public string LaunchName => $"Conv2d{Pass}({Kernel switch { GpuConvKernel.TiledGemm => "tiled", GpuConvKernel.Tf32 => "tf32", GpuConvKernel.Depthwise => "depthwise", GpuConvKernel.DepthwiseTiled => "depthwise-tiled", _ => "direct" }}{(Parts > 1 ? " split" : "")})";

    /// <summary>The split weight gradient's finishing launch in the profile.</summary>
    public const string FinishLaunchName = "Conv2dBackwardWeight(finish)";

    public override string ToString()
    {
        string split = (Parts > 1 ? $", split-K {Parts} parts of {Chunk} + finish" : "") + (Phases > 1 ? $", {Phases} stride phases" : "");
        if (Kernel == GpuConvKernel.DepthwiseTiled)
            return $"{Pass}: depthwise tiled, {Groups} channels, {TileRows}x{TileCols} pixel tiles x {Tx} channels, {Tx * Ty} threads, {Micro} "
                + $"{(Pass == GpuConvPass.BackwardWeight ? "taps" : "outputs")} per thread, {SharedBytes} B shared"
                + (Parts > 1 ? $", split {Parts} parts of {Chunk} tiles + finish" : "");
        if (Kernel == GpuConvKernel.Tf32)
            return $"{Pass}: TF32 tensor-core implicit GEMM (mma.sync m16n8k8), {Groups} x ({M} x {N}, K {K}), {TileM}x{TileN} tiles, {Tx * Ty} threads{split}";
        return Kernel == GpuConvKernel.TiledGemm
            ? $"{Pass}: tiled implicit GEMM, {Groups} x ({M} x {N}, K {K}), {TileM}x{TileN} tiles, {Tx}x{Ty} threads, {Micro}x{Micro} micro-tile{split}"
            : $"{Pass}: {(Kernel == GpuConvKernel.Depthwise ? "depthwise" : "direct")}, one thread per element of {Groups} x ({M} x {N}), sums of K {K}{split}";
    }
}
