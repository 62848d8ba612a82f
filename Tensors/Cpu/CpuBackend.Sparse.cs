using Sparkle.Tensors.Backend;
using Sparkle.Tensors.Cpu.Sparse;

namespace Sparkle.Tensors.Cpu;

public sealed partial class CpuBackend
{
    /// <summary>See <see cref="IBackend.SparseGather"/>; kernels in Tensors/Cpu/Sparse (docs/sparse.md).</summary>
    public void SparseGather(Tensor x, SparseSites sites, Tensor rows)
    {
        if (!rows.IsContiguous || rows.Offset != 0) throw new ArgumentException("SparseGather: rows must be a fresh contiguous tensor.");
        switch (x.DType)
        {
            case DType.Float32: RowIO.Gather(x, sites, RowIO.Data<float>(rows)); break;
            case DType.Float64: RowIO.Gather(x, sites, RowIO.Data<double>(rows)); break;
            default: throw new NotSupportedException($"SparseGather supports float32 and float64, not {x.DType.Name()}.");
        }
    }

    /// <summary>See <see cref="IBackend.SparseScatter"/>.</summary>
    public Tensor SparseScatter(Tensor rows, SparseSites sites, bool channelsLast)
    {
        if (!rows.IsContiguous || rows.Offset != 0) throw new ArgumentException("SparseScatter: rows must be a fresh contiguous tensor.");
        int c = rows.Size(rows.Rank - 1);
        return rows.DType switch
        {
            DType.Float32 => RowIO.Scatter(RowIO.Data<float>(rows), sites, c, channelsLast),
            DType.Float64 => RowIO.Scatter(RowIO.Data<double>(rows), sites, c, channelsLast),
            _ => throw new NotSupportedException($"SparseScatter supports float32 and float64, not {rows.DType.Name()}."),
        };
    }

    /// <summary>See <see cref="IBackend.SparseConv2dForward"/>; the kernel choice is <see cref="SparseConvCpu.Choose"/>.</summary>
    public (Tensor Output, object? Kept) SparseConv2dForward(Tensor input, Tensor weight, Tensor? bias, SparseConvMap map, int groups,
        bool keepForWeightGrad, SparseConvOptions options)
        => SparseConvCpu.Forward(input, weight, bias, map, groups, keepForWeightGrad, options);

    /// <summary>See <see cref="IBackend.SparseConv2dBackward"/>.</summary>
    public (Tensor? GradInput, Tensor? GradWeight, Tensor? GradBias) SparseConv2dBackward(Tensor gradOutput, Tensor? input, object? kept,
        Tensor weight, SparseConvMap map, int groups, bool needInput, bool needWeight, bool needBias, SparseConvOptions options)
        => SparseConvCpu.Backward(gradOutput, input, kept, weight, map, groups, needInput, needWeight, needBias, options);
}
