namespace Sparkle.Tensors.Cpu.Gemm;

/// <summary>
/// A GEMM operand: element (i, j) lives at Data[Offset + i*RowStride + j*ColStride]. Any non-negative
/// strides work (0 = broadcast); transposing an operand is swapping its strides, so NN/NT/TN/TT are
/// not separate code paths but packing variants.
/// </summary>
internal readonly record struct StridedMatrix<T>(T[] Data, int Offset, int RowStride, int ColStride)
{
    public StridedMatrix<T> Transposed => new(Data, Offset, ColStride, RowStride);

    /// <summary>Throws unless every element of a rows x cols view lies inside Data. The kernels read with
    /// unchecked refs, so this one O(1) check at the entry is what keeps a bad call from reading out of bounds.</summary>
    public void CheckFits(int rows, int cols, string name)
    {
        if (rows == 0 || cols == 0) return;
        long last = Offset + (long)(rows - 1) * RowStride + (long)(cols - 1) * ColStride;
        if (Offset < 0 || RowStride < 0 || ColStride < 0 || last >= Data.Length)
            throw new ArgumentException($"GEMM operand {name}: a {rows}x{cols} view with offset {Offset} and strides ({RowStride}, {ColStride}) does not fit an array of {Data.Length}.");
    }

    /// <summary>The sub-matrix starting at (row, col).</summary>
    public StridedMatrix<T> At(int row, int col) => new(Data, Offset + row * RowStride + col * ColStride, RowStride, ColStride);
}
