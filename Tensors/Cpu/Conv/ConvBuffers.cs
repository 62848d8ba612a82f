using Sparkle.Tensors.Cpu.Gemm;

namespace Sparkle.Tensors.Cpu.Conv;

/// <summary>
/// Per-thread scratch of the convolution kernels, grown to the largest size seen and then reused, so a
/// steady-state training step allocates none of it. The calling thread's <see cref="Weights"/> and
/// <see cref="Partials"/> are shared read-only (weights) or by disjoint slices (partials) with the pool's
/// workers during one call; the others belong to whichever thread runs a work item.
/// </summary>
internal static class ConvBuffers<T> where T : unmanaged
{
    [ThreadStatic] private static PackBuffer<T>? _a, _b, _tile, _weights, _partials, _plane, _plane2, _row, _col, _mat;

    /// <summary>A packed block of the GEMM's left operand (L2-sized).</summary>
    public static PackBuffer<T> A => _a ??= new();
    /// <summary>A packed micro-panel of the GEMM's right operand (L1-sized).</summary>
    public static PackBuffer<T> B => _b ??= new();
    /// <summary>One register tile, for edges and scattered stores.</summary>
    public static PackBuffer<T> Tile => _tile ??= new();
    /// <summary>The weights, packed once per call by the calling thread.</summary>
    public static PackBuffer<T> Weights => _weights ??= new();
    /// <summary>Per-slice partial weight gradients (calling thread; each work item owns one slice).</summary>
    public static PackBuffer<T> Partials => _partials ??= new();
    /// <summary>Padded image planes and row scratch of the depthwise kernels.</summary>
    public static PackBuffer<T> Plane => _plane ??= new();
    public static PackBuffer<T> Plane2 => _plane2 ??= new();
    public static PackBuffer<T> Row => _row ??= new();
    /// <summary>The batched path's column matrix of one chunk of images (calling thread; items own whole images).</summary>
    public static PackBuffer<T> Col => _col ??= new();
    /// <summary>The batched path's pixel-by-channel matrix of one chunk (an output or output gradient in matrix form).</summary>
    public static PackBuffer<T> Mat => _mat ??= new();
}
