namespace Sparkle.Sparse;

/// <summary>The key of a neighbour map: kernel, stride, padding, dilation and the input resolution.</summary>
public readonly record struct ConvGeometry(int KernelH, int KernelW, int StrideH, int StrideW, int PadH, int PadW,
    int DilationH, int DilationW, int InH, int InW)
{
    public int OutH => (InH + 2 * PadH - DilationH * (KernelH - 1) - 1) / StrideH + 1;
    public int OutW => (InW + 2 * PadW - DilationW * (KernelW - 1) - 1) / StrideW + 1;
    public int Taps => KernelH * KernelW;

    /// <summary>A 1x1, stride-1, unpadded kernel: output site r reads input row r.</summary>
    public bool IsPointwise => KernelH == 1 && KernelW == 1 && StrideH == 1 && StrideW == 1 && PadH == 0 && PadW == 0;
}
