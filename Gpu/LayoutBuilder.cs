using Sparkle.Gpu.Kernels;
using Sparkle.Tensors;

namespace Sparkle.Gpu;

/// <summary>
/// Host side of <see cref="Layout4"/>: drops size-1 dims and merges neighbouring dims that every operand
/// walks contiguously (stride[d] == stride[d+1] * shape[d+1]), so most views reach the kernel as rank 1-3
/// and the per-thread division loop stays short.
/// </summary>
internal static class LayoutBuilder
{
    public static Layout4 Build(ReadOnlySpan<int> shape, params Tensor[] operands)
    {
        if (operands.Length > 4) throw new ArgumentException("ILGPU backend: at most four operands per layout.");
        var dims = new List<int>();
        var strides = operands.Select(_ => new List<int>()).ToArray();
        for (int d = 0; d < shape.Length; d++)
        {
            if (shape[d] == 1) continue;
            int last = dims.Count - 1;
            bool merge = last >= 0;
            for (int o = 0; o < operands.Length && merge; o++)
                merge = strides[o][last] == operands[o].Strides[d] * shape[d];
            if (merge)
            {
                dims[last] *= shape[d];
                for (int o = 0; o < operands.Length; o++) strides[o][last] = operands[o].Strides[d];
            }
            else
            {
                dims.Add(shape[d]);
                for (int o = 0; o < operands.Length; o++) strides[o].Add(operands[o].Strides[d]);
            }
        }
        if (dims.Count > Dims8.MaxRank)
            throw new NotSupportedException($"ILGPU backend: shape {ShapeUtil.Format(shape)} does not collapse to rank {Dims8.MaxRank} or less.");
        var l = new Layout4 { Rank = dims.Count };
        for (int k = 0; k < dims.Count; k++)
        {
            l.Shape[k] = dims[k];
            if (operands.Length > 0) l.S0[k] = strides[0][k];
            if (operands.Length > 1) l.S1[k] = strides[1][k];
            if (operands.Length > 2) l.S2[k] = strides[2][k];
            if (operands.Length > 3) l.S3[k] = strides[3][k];
        }
        if (operands.Length > 0) l.O0 = operands[0].Offset;
        if (operands.Length > 1) l.O1 = operands[1].Offset;
        if (operands.Length > 2) l.O2 = operands[2].Offset;
        if (operands.Length > 3) l.O3 = operands[3].Offset;
        return l;
    }
}
