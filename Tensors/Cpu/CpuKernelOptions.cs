using Sparkle.Tensors.Cpu.Gemm;

namespace Sparkle.Tensors.Cpu;

/// <summary>
/// Which kernels the CPU backend runs, as a value (docs/conv.md, "Choosing a kernel"). The default is the host's
/// best: the measured rules of <see cref="Conv.ConvPlan"/> and the widest instruction set the hardware runs
/// (<see cref="CpuIsas.Host"/>), or the one SPARKLE_ISA names. A backend made with other options
/// (<see cref="CpuBackend.WithOptions"/>) runs every op on its tensors with them, so tests pick a path by the tensors
/// they pass and two tests on two threads cannot disturb each other; benchmarks compare paths the same way. Every
/// choice gives correct results; only speed (and, between GEMM micro-kernels with and without FMA, rounding) differs.
/// </summary>
public sealed record CpuKernelOptions
{
    /// <summary>The host's best, with the instruction set of SPARKLE_ISA when it is set (an unknown value throws
    /// when the CPU backend starts, naming the allowed ones).</summary>
    public static CpuKernelOptions Default { get; } = new() { Isa = CpuIsas.Parse(Environment.GetEnvironmentVariable("SPARKLE_ISA")) };

    /// <summary>The kernel family (docs/tensors.md, "Instruction sets"): Avx512 = the Vector512 GEMM micro-kernel and
    /// Vector512 elementwise/reduction rows; Avx2 = Vector256 ones and the slab convolutions; V128 = Vector128 ones;
    /// Scalar = the scalar micro-kernel and element loops. Auto = <see cref="CpuIsas.Host"/>. A family the hardware
    /// lacks runs emulated (correct, slow). Elementwise ops give the same bits in every family.</summary>
    public CpuIsa Isa { get; init; } = CpuIsa.Auto;

    /// <summary>False turns off the direct convolution kernels (slab, depthwise) and the rules that pick the batched and
    /// pointwise GEMMs, leaving the packed im2col GEMM (unless <see cref="ConvBatched"/> or <see cref="ConvPointwise"/>
    /// force theirs).</summary>
    public bool ConvDirect { get; init; } = true;

    /// <summary>The batched im2col + GEMM convolution: true = wherever it applies (not depthwise), false = never,
    /// null = the rule (small maps with large weights).</summary>
    public bool? ConvBatched { get; init; }

    /// <summary>The pointwise (1x1) GEMM convolution: true = wherever it applies (and before the batched one),
    /// false = never, null = the rule.</summary>
    public bool? ConvPointwise { get; init; }

    /// <summary>The Winograd F(2x2, 3x3) convolution (3x3, stride 1, one group): true = wherever it applies; false or
    /// null = never (no rule picks it yet: not faster than the direct kernels where measured, <see cref="Conv.ConvPlan.UseWinograd"/>).</summary>
    public bool? ConvWinograd { get; init; }

    /// <summary>Largest column matrix of one batched-convolution chunk (or transformed tiles of one Winograd chunk) in
    /// bytes; 0 = the default budget. Tests shrink it
    /// to cut small batches into several chunks.</summary>
    public long ConvBatchedChunkBytes { get; init; }

    /// <summary>The instruction set calls run with (Auto resolved).</summary>
    internal CpuIsa ResolvedIsa => CpuIsas.Resolve(Isa);

    /// <summary>The GEMM micro-kernel of the family.</summary>
    internal GemmKernel GemmKernel => ResolvedIsa switch
    {
        CpuIsa.Avx512 => GemmKernel.Vector512,
        CpuIsa.Avx2 => GemmKernel.Vector256,
        CpuIsa.V128 => GemmKernel.Vector128,
        _ => GemmKernel.Scalar,
    };

    /// <summary>The vector width of the elementwise and reduction drivers.</summary>
    internal SimdWidth Width => ResolvedIsa switch
    {
        CpuIsa.Avx512 => SimdWidth.V512,
        CpuIsa.Avx2 => SimdWidth.V256,
        CpuIsa.V128 => SimdWidth.V128,
        _ => SimdWidth.Scalar,
    };
}
