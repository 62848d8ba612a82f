using System.Runtime.Intrinsics;
using Sparkle.Tensors.Cpu.Gemm;

namespace Sparkle.Tensors.Cpu;

/// <summary>
/// Which kernels the CPU backend runs, as a value (docs/conv.md, "Choosing a kernel"). The default is the host's
/// best: the measured rules of <see cref="Conv.ConvPlan"/>, the widest GEMM micro-kernel the hardware runs, Vector512
/// elementwise code where it is accelerated. A backend made with other options (<see cref="CpuBackend.WithOptions"/>)
/// runs every op on its tensors with them, so tests pick a path by the tensors they pass and two tests on two threads
/// cannot disturb each other; benchmarks compare paths the same way. Every choice gives correct results; only speed
/// (and, between micro-kernels, rounding) differs.
/// </summary>
public sealed record CpuKernelOptions
{
    /// <summary>The host's best: every rule as measured.</summary>
    public static CpuKernelOptions Default { get; } = new();

    /// <summary>GEMM micro-kernel of matmuls and convolutions; Auto = <see cref="GemmKernels.Best"/>. Vector512 on
    /// hardware without AVX-512 is correct but slow (emulated).</summary>
    public GemmKernel Gemm { get; init; } = GemmKernel.Auto;

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

    /// <summary>Largest column matrix of one batched-convolution chunk in bytes; 0 = the default budget. Tests shrink it
    /// to cut small batches into several chunks.</summary>
    public long ConvBatchedChunkBytes { get; init; }

    /// <summary>Vector width of the elementwise and reduction paths: true = Vector512 even where it is emulated in
    /// software (correct, slower), false = Vector256, null = Vector512 where the hardware accelerates it. Every op
    /// gives the same bits at both widths (tests check this).</summary>
    public bool? Vector512Paths { get; init; }

    /// <summary>The GEMM micro-kernel calls run with (Auto resolved).</summary>
    internal GemmKernel GemmKernel => Gemm == GemmKernel.Auto ? GemmKernels.Best : Gemm;

    /// <summary>Whether the elementwise and reduction drivers use Vector512.</summary>
    internal bool UseVector512 => Vector512Paths ?? Vector512.IsHardwareAccelerated;
}
