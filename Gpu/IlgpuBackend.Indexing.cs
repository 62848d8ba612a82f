using ILGPU;
using ILGPU.Runtime;
using Sparkle.Gpu.Kernels;
using Sparkle.Tensors;
using Device = Sparkle.Tensors.Device;

namespace Sparkle.Gpu;

/// <summary>IndexSelect, Gather, ScatterAdd. Indices are range-checked on the device, so the hot path never waits for the
/// device: a bad index is not dereferenced (gather writes 0, scatter-add skips it) and is recorded in a small error cell;
/// the next host read of this device (CopyToHost, Synchronize) throws the IndexOutOfRangeException that names the op.
/// Unlike the CPU, the failing op itself returns and an in-place scatter-add has applied its good indices.
/// <see cref="EagerIndexChecks"/> restores the CPU's behaviour (throw in the call, before any write) at the price of a
/// download of the index tensor per call — for debugging.</summary>
public sealed partial class IlgpuBackend
{
    private const int MaxPendingChecks = 4096;
    private readonly List<(string Op, int Dim, int Size, string Shape)> _checks = [];
    private MemoryBuffer1D<long, Stride1D.Dense>? _errorCell;

    /// <summary>Check indices on the host before launching (one download per indexing call; throws in the call).</summary>
    public bool EagerIndexChecks { get; set; }

    public void IndexSelect(Tensor x, int dim, Tensor index, Tensor dst)
    {
        long id = BeginCheck("IndexSelect", index, x.Shape[dim], dim, x.Shape);
        // index_select is gather with the 1-D index broadcast along every other dim of dst.
        var strides = new int[dst.Rank];
        strides[dim] = index.Rank == 0 ? 0 : index.Strides[0];
        GatherChecked(x, dim, new Tensor(index.Storage, index.Offset, dst.ShapeArray(), strides), dst, id);
    }

    public void Gather(Tensor x, int dim, Tensor index, Tensor dst)
    {
        long id = BeginCheck("Gather", index, x.Shape[dim], dim, x.Shape);
        GatherChecked(x, dim, index, dst, id);
    }

    private void GatherChecked(Tensor x, int dim, Tensor index, Tensor dst, long id)
    {
        switch (x.DType)
        {
            case DType.Float32: GatherValues<float>(x, dim, index, dst, id); break;
            case DType.Float64: GatherValues<double>(x, dim, index, dst, id); break;
            case DType.Int32: GatherValues<int>(x, dim, index, dst, id); break;
            case DType.Int64: GatherValues<long>(x, dim, index, dst, id); break;
            case DType.Bool: GatherValues<byte>(x, dim, index, dst, id); break;
        }
    }

    private void GatherValues<T>(Tensor x, int dim, Tensor index, Tensor dst, long id) where T : unmanaged
    {
        if (index.DType == DType.Int64) GatherTyped<T, long, I64>(x, dim, index, dst, id);
        else GatherTyped<T, int, I32>(x, dim, index, dst, id);
    }

    private void GatherTyped<T, TI, EI>(Tensor x, int dim, Tensor index, Tensor dst, long id)
        where T : unmanaged where TI : unmanaged where EI : struct, IElement<TI>
    {
        var l = LayoutBuilder.Build(dst.Shape, dst, index, BaseView(x, dst.Shape, dim));
        int dimStride = x.Strides[dim], size = x.Shape[dim];
        var xv = View<T>(x);
        var iv = View<TI>(index);
        var dv = View<T>(dst);
        var err = ErrorCell;
        Launch(dst.NumElements, i => _kernels.Get<ArrayView1D<T, Stride1D.Dense>, ArrayView1D<TI, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, Layout4, int, int, ArrayView1D<long, Stride1D.Dense>, long>(
            IndexKernels.Gather<T, TI, EI>)(i, xv, iv, dv, l, dimStride, size, err, id));
    }

    public void ScatterAdd(Tensor dst, int dim, Tensor index, Tensor src)
    {
        long id = BeginCheck("ScatterAdd", index, dst.Shape[dim], dim, dst.Shape);
        switch (dst.DType)
        {
            case DType.Float32: ScatterValues<float, F32>(dst, dim, index, src, id); break;
            case DType.Float64: ScatterValues<double, F64>(dst, dim, index, src, id); break;
            case DType.Int32: ScatterValues<int, I32>(dst, dim, index, src, id); break;
            case DType.Int64: ScatterValues<long, I64>(dst, dim, index, src, id); break;
            case DType.Bool: ScatterValues<byte, Bool8>(dst, dim, index, src, id); break;
        }
    }

    private void ScatterValues<T, TE>(Tensor dst, int dim, Tensor index, Tensor src, long id) where T : unmanaged where TE : struct, IElement<T>
    {
        if (index.DType == DType.Int64) ScatterTyped<T, TE, long, I64>(dst, dim, index, src, id);
        else ScatterTyped<T, TE, int, I32>(dst, dim, index, src, id);
    }

    private void ScatterTyped<T, TE, TI, EI>(Tensor dst, int dim, Tensor index, Tensor src, long id)
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
        int size = dst.Shape[dim];
        var err = ErrorCell;
        Launch(ShapeUtil.NumElements(lineShape), i => _kernels.Get<ArrayView1D<T, Stride1D.Dense>, ArrayView1D<TI, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, Layout4, ScatterLine, int, ArrayView1D<long, Stride1D.Dense>, long>(
            IndexKernels.ScatterAdd<T, TE, TI, EI>)(i, sv, iv, dv, lines, line, size, err, id), Profile is null ? "" : $"line length {line.Length}, dst {ShapeUtil.Format(dst.Shape)} dim {dim}");
    }

    /// <summary>t viewed with <paramref name="shape"/> and stride 0 along dim: the address an index is added to.</summary>
    private static Tensor BaseView(Tensor t, ReadOnlySpan<int> shape, int dim)
    {
        var strides = t.StridesArray();
        strides[dim] = 0;
        return new Tensor(t.Storage, t.Offset, shape.ToArray(), strides);
    }

    /// <summary>Validates the index dtype, runs the eager host check when asked, and registers a device-side check: its id
    /// (1-based position in the pending list) is what a kernel writes into the error cell.</summary>
    private long BeginCheck(string op, Tensor index, int size, int dim, ReadOnlySpan<int> shape)
    {
        if (index.DType is not (DType.Int64 or DType.Int32))
            throw new ArgumentException($"{op}: index must be int64 or int32, got {index.DType.Name()}.");
        if (EagerIndexChecks && index.NumElements > 0)
            foreach (long k in index.To(DType.Int64).To(Device.Cpu).ToArray<long>())
                if ((ulong)k >= (ulong)size) throw OutOfBounds(op, k, dim, size, ShapeUtil.Format(shape));
        lock (_gate)
        {
            if (_checks.Count >= MaxPendingChecks) RaisePendingErrors();   // one sync per 4096 indexing calls at most
            _checks.Add((op, dim, size, ShapeUtil.Format(shape)));
            return _checks.Count;
        }
    }

    /// <summary>Two longs on the device: (id of the first failing check, its bad index); (0, 0) when all is well.</summary>
    private ArrayView1D<long, Stride1D.Dense> ErrorCell
    {
        get
        {
            lock (_gate)
            {
                if (_errorCell is null)
                {
                    _errorCell = _accelerator.Allocate1D<long>(2);
                    _errorCell.MemSetToZero();
                }
                return _errorCell.View;
            }
        }
    }

    /// <summary>Under the launch lock: if indexing ops ran since the last read, waits for the device, reads and clears the
    /// error cell, and throws for the first bad index it holds. Called before every host read.</summary>
    private void RaisePendingErrors()
    {
        if (_checks.Count == 0 || _errorCell is null) return;
        _accelerator.Synchronize();
        var cell = new long[2];
        _errorCell.View.CopyToCPU(cell);
        var checks = _checks.ToArray();
        _checks.Clear();
        if (cell[0] == 0) return;
        _errorCell.MemSetToZero();
        var (op, dim, size, shape) = checks[(int)cell[0] - 1];
        throw OutOfBounds(op, cell[1], dim, size, shape);
    }

    private static IndexOutOfRangeException OutOfBounds(string op, long k, int dim, int size, string shape) =>
        new($"{op}: index {k} is out of bounds for dim {dim} with size {size} (shape {shape}). On this device the check runs in the " +
            "kernel and is reported at the next host read; set EagerIndexChecks on the backend to throw in the call itself.");
}
