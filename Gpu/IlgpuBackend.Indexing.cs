using ILGPU;
using ILGPU.Runtime;
using Sparkle.Gpu.Kernels;
using Sparkle.Tensors;
using Device = Sparkle.Tensors.Device;

namespace Sparkle.Gpu;

/// <summary>IndexSelect, Gather, ScatterAdd. Indices are range-checked on the host before any kernel writes (as
/// the CPU does, so a failing in-place op leaves dst untouched); that costs one download of the index tensor —
/// a device-side check with an error flag is the follow-up once this matters.</summary>
public sealed partial class IlgpuBackend
{
    public void IndexSelect(Tensor x, int dim, Tensor index, Tensor dst)
    {
        CheckIndices("IndexSelect", index, x.Shape[dim], dim, x.Shape);
        // index_select is gather with the 1-D index broadcast along every other dim of dst.
        var strides = new int[dst.Rank];
        strides[dim] = index.Rank == 0 ? 0 : index.Strides[0];
        GatherUnchecked(x, dim, new Tensor(index.Storage, index.Offset, dst.ShapeArray(), strides), dst);
    }

    public void Gather(Tensor x, int dim, Tensor index, Tensor dst)
    {
        CheckIndices("Gather", index, x.Shape[dim], dim, x.Shape);
        GatherUnchecked(x, dim, index, dst);
    }

    private void GatherUnchecked(Tensor x, int dim, Tensor index, Tensor dst)
    {
        switch (x.DType)
        {
            case DType.Float32: GatherValues<float>(x, dim, index, dst); break;
            case DType.Float64: GatherValues<double>(x, dim, index, dst); break;
            case DType.Int32: GatherValues<int>(x, dim, index, dst); break;
            case DType.Int64: GatherValues<long>(x, dim, index, dst); break;
            case DType.Bool: GatherValues<byte>(x, dim, index, dst); break;
        }
    }

    private void GatherValues<T>(Tensor x, int dim, Tensor index, Tensor dst) where T : unmanaged
    {
        if (index.DType == DType.Int64) GatherTyped<T, long, I64>(x, dim, index, dst);
        else GatherTyped<T, int, I32>(x, dim, index, dst);
    }

    private void GatherTyped<T, TI, EI>(Tensor x, int dim, Tensor index, Tensor dst)
        where T : unmanaged where TI : unmanaged where EI : struct, IElement<TI>
    {
        var l = LayoutBuilder.Build(dst.Shape, dst, index, BaseView(x, dst.Shape, dim));
        int dimStride = x.Strides[dim];
        var xv = View<T>(x);
        var iv = View<TI>(index);
        var dv = View<T>(dst);
        Launch(dst.NumElements, i => _kernels.Get<ArrayView1D<T, Stride1D.Dense>, ArrayView1D<TI, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, Layout4, int>(
            IndexKernels.Gather<T, TI, EI>)(i, xv, iv, dv, l, dimStride));
    }

    public void ScatterAdd(Tensor dst, int dim, Tensor index, Tensor src)
    {
        CheckIndices("ScatterAdd", index, dst.Shape[dim], dim, dst.Shape);
        switch (dst.DType)
        {
            case DType.Float32: ScatterValues<float, F32>(dst, dim, index, src); break;
            case DType.Float64: ScatterValues<double, F64>(dst, dim, index, src); break;
            case DType.Int32: ScatterValues<int, I32>(dst, dim, index, src); break;
            case DType.Int64: ScatterValues<long, I64>(dst, dim, index, src); break;
            case DType.Bool: ScatterValues<byte, Bool8>(dst, dim, index, src); break;
        }
    }

    private void ScatterValues<T, TE>(Tensor dst, int dim, Tensor index, Tensor src) where T : unmanaged where TE : struct, IElement<T>
    {
        if (index.DType == DType.Int64) ScatterTyped<T, TE, long, I64>(dst, dim, index, src);
        else ScatterTyped<T, TE, int, I32>(dst, dim, index, src);
    }

    private void ScatterTyped<T, TE, TI, EI>(Tensor dst, int dim, Tensor index, Tensor src)
        where T : unmanaged where TE : struct, IElement<T> where TI : unmanaged where EI : struct, IElement<TI>
    {
        if (index.NumElements == 0) return;
        var lineShape = index.ShapeArray();
        lineShape[dim] = 1;
        var srcView = new Tensor(src.Storage, src.Offset, lineShape, src.StridesArray());
        var idxView = new Tensor(index.Storage, index.Offset, lineShape, index.StridesArray());
        var lines = LayoutBuilder.Build(lineShape, srcView, idxView, BaseView(dst, lineShape, dim));
        var line = new ScatterLine { Length = index.Shape[dim], SrcStride = src.Strides[dim], IndexStride = index.Strides[dim], DstDimStride = dst.Strides[dim] };
        var sv = View<T>(src);
        var iv = View<TI>(index);
        var dv = View<T>(dst);
        Launch(ShapeUtil.NumElements(lineShape), i => _kernels.Get<ArrayView1D<T, Stride1D.Dense>, ArrayView1D<TI, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, Layout4, ScatterLine>(
            IndexKernels.ScatterAdd<T, TE, TI, EI>)(i, sv, iv, dv, lines, line));
    }

    /// <summary>t viewed with <paramref name="shape"/> and stride 0 along dim: the address an index is added to.</summary>
    private static Tensor BaseView(Tensor t, ReadOnlySpan<int> shape, int dim)
    {
        var strides = t.StridesArray();
        strides[dim] = 0;
        return new Tensor(t.Storage, t.Offset, shape.ToArray(), strides);
    }

    private static void CheckIndices(string op, Tensor index, int size, int dim, ReadOnlySpan<int> shape)
    {
        if (index.DType is not (DType.Int64 or DType.Int32))
            throw new ArgumentException($"{op}: index must be int64 or int32, got {index.DType.Name()}.");
        if (index.NumElements == 0) return;
        foreach (long k in index.To(DType.Int64).To(Device.Cpu).ToArray<long>())
            if ((ulong)k >= (ulong)size)
                throw new IndexOutOfRangeException($"{op}: index {k} is out of bounds for dim {dim} with size {size} (shape {ShapeUtil.Format(shape)}).");
    }
}
