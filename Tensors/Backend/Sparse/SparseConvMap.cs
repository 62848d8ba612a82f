namespace Sparkle.Tensors.Backend;

/// <summary>
/// One submanifold convolution geometry over a mask: kernel, stride, padding, dilation, the input and output sites, and
/// the neighbour map. <see cref="Rows"/>: for each active output site r and tap t (row-major ky, kx) the row of the
/// active input site it reads, or −1 (outside the image or masked), at r·Taps + t (Int32 (Out.Count·Taps) on the sites'
/// device). <see cref="Inverse"/>: for each input row i and tap t, the output row that reads it through t, or −1 (so an
/// input gradient is a gather too: deterministic, no scatter conflicts). Both are built on first use (a backend whose
/// kernel does not need them, e.g. the CPU's depthwise plane kernel, never pays for them) by Sparse/ (NeighbourMap).
/// A 1x1 stride-1 unpadded geometry is the identity (<see cref="IsIdentity"/>: output row r reads input row r, no map).
/// </summary>
public sealed class SparseConvMap
{
    private readonly Func<Tensor> _buildRows, _buildInverse;
    private Tensor? _rows, _inverse;

    public SparseConvMap(int kernelH, int kernelW, int strideH, int strideW, int padH, int padW, int dilationH, int dilationW,
        SparseSites input, SparseSites output, Func<Tensor> buildRows, Func<Tensor> buildInverse)
    {
        (KernelH, KernelW, StrideH, StrideW, PadH, PadW, DilationH, DilationW) = (kernelH, kernelW, strideH, strideW, padH, padW, dilationH, dilationW);
        (In, Out, _buildRows, _buildInverse) = (input, output, buildRows, buildInverse);
    }

    public int KernelH { get; }
    public int KernelW { get; }
    public int StrideH { get; }
    public int StrideW { get; }
    public int PadH { get; }
    public int PadW { get; }
    public int DilationH { get; }
    public int DilationW { get; }
    public SparseSites In { get; }
    public SparseSites Out { get; }
    public int Taps => KernelH * KernelW;
    public bool IsIdentity => KernelH == 1 && KernelW == 1 && StrideH == 1 && StrideW == 1 && PadH == 0 && PadW == 0;

    /// <summary>Int32 (Out.Count·Taps); throws for the identity.</summary>
    public Tensor Rows
    {
        get
        {
            if (IsIdentity) throw new InvalidOperationException("SparseConvMap: a 1x1 stride-1 geometry has no neighbour map (IsIdentity).");
            lock (_buildRows) return _rows ??= _buildRows();
        }
    }

    /// <summary>Int32 (In.Count·Taps); throws for the identity.</summary>
    public Tensor Inverse
    {
        get
        {
            if (IsIdentity) throw new InvalidOperationException("SparseConvMap: a 1x1 stride-1 geometry has no neighbour map (IsIdentity).");
            lock (_buildInverse) return _inverse ??= _buildInverse();
        }
    }

    /// <summary>Stride 1 and "same" padding: the output map is the input map (the depthwise plane kernels' case).</summary>
    public bool IsSame => StrideH == 1 && StrideW == 1 && 2 * PadH == (KernelH - 1) * DilationH && 2 * PadW == (KernelW - 1) * DilationW;
}
