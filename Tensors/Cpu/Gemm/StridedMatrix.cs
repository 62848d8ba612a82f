namespace Sparkle.Tensors.Cpu.Gemm;

/// <summary>
/// A GEMM operand: element (i, j) lives at Data[Offset + i*RowStride + j*ColStride]. Any non-negative
/// strides work (0 = broadcast); transposing an operand is swapping its strides, so NN/NT/TN/TT are
/// not separate code paths but packing variants.
/// </summary>
internal readonly record struct StridedMatrix<T>(T[] Data, int Offset, int RowStride, int ColStride)
{
    public StridedMatrix<T> Transposed => new(Data, Offset, ColStride, RowStride);

    /// <summary>The sub-matrix starting at (row, col).</summary>
    public StridedMatrix<T> At(int row, int col) => new(Data, Offset + row * RowStride + col * ColStride, RowStride, ColStride);
}
