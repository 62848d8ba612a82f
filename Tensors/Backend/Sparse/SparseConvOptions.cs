namespace Sparkle.Tensors.Backend;

/// <summary>
/// The visible kernel choice of a submanifold convolution (issue 15 item 4: no hidden switches). The default lets the
/// backend pick its best kernel for the geometry and layout; <see cref="RowsOnly"/> forces the generic rows algorithm
/// (gather rows, GEMM per group through the neighbour map, scatter) where a backend has specialised kernels (the CPU's
/// depthwise plane, channel-major pointwise and implicit-GEMM paths), so tests run every path on the same shapes.
/// </summary>
public sealed record SparseConvOptions
{
    public static SparseConvOptions Default { get; } = new();

    public bool RowsOnly { get; init; }
}

/// <summary>The CPU backend's submanifold-conv kernels (chosen by geometry, groups and layout; see docs/sparse.md).</summary>
public enum SparseConvPath { Rows, PointwiseChannelMajor, DepthwisePlanes }
