using Sparkle.Tensors.Cpu.Indexing;

namespace Sparkle.Tensors.Cpu;

/// <summary>Indexing kernels (Cpu/Indexing/): dispatch from (value dtype, index dtype) to the generic kernels.</summary>
public sealed partial class CpuBackend
{
    public void IndexSelect(Tensor x, int dim, Tensor index, Tensor dst)
    {
        // index_select is gather with the 1-D index broadcast along every other dim of dst.
        var strides = new int[dst.Rank];
        strides[dim] = index.Rank == 0 ? 0 : index.Strides[0];
        var expanded = new Tensor(index.Storage, index.Offset, dst.ShapeArray(), strides);
        Gather("IndexSelect", x, dim, expanded, dst);
    }

    public void Gather(Tensor x, int dim, Tensor index, Tensor dst) => Gather("Gather", x, dim, index, dst);

    private static void Gather(string op, Tensor x, int dim, Tensor index, Tensor dst)
    {
        if (index.DType == DType.Int64) GatherValues<long>(op, x, dim, index, dst);
        else if (index.DType == DType.Int32) GatherValues<int>(op, x, dim, index, dst);
        else throw new ArgumentException($"{op}: index must be int64 or int32, got {index.DType.Name()}.");
    }

    private static void GatherValues<TI>(string op, Tensor x, int dim, Tensor index, Tensor dst) where TI : unmanaged
    {
        switch (x.DType)
        {
            case DType.Float32: GatherKernel.Run<float, TI>(op, x, dim, index, dst); break;
            case DType.Float64: GatherKernel.Run<double, TI>(op, x, dim, index, dst); break;
            case DType.Int32: GatherKernel.Run<int, TI>(op, x, dim, index, dst); break;
            case DType.Int64: GatherKernel.Run<long, TI>(op, x, dim, index, dst); break;
            case DType.Bool: GatherKernel.Run<bool, TI>(op, x, dim, index, dst); break;
        }
    }

    public void ScatterAdd(Tensor dst, int dim, Tensor index, Tensor src)
    {
        if (index.DType == DType.Int64) ScatterAddValues<long>(dst, dim, index, src);
        else if (index.DType == DType.Int32) ScatterAddValues<int>(dst, dim, index, src);
        else throw new ArgumentException($"ScatterAdd: index must be int64 or int32, got {index.DType.Name()}.");
    }

    private static void ScatterAddValues<TI>(Tensor dst, int dim, Tensor index, Tensor src) where TI : unmanaged
    {
        switch (dst.DType)
        {
            case DType.Float32: ScatterAddKernel.Run<float, TI>(dst, dim, index, src); break;
            case DType.Float64: ScatterAddKernel.Run<double, TI>(dst, dim, index, src); break;
            case DType.Int32: ScatterAddKernel.Run<int, TI>(dst, dim, index, src); break;
            case DType.Int64: ScatterAddKernel.Run<long, TI>(dst, dim, index, src); break;
            case DType.Bool: ScatterAddKernel.Run<bool, TI>(dst, dim, index, src); break;
        }
    }
}
