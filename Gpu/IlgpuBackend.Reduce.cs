using ILGPU;
using ILGPU.Runtime;
using Sparkle.Gpu.Kernels;
using Sparkle.Tensors;
using Sparkle.Tensors.Backend;

namespace Sparkle.Gpu;

/// <summary>Reduce and ArgReduce: dtype rules as the CPU's ReduceDispatch. Reductions of at least
/// <see cref="GroupedReduceMinLength"/> elements per output run one thread group per output (GroupReduceKernel), shorter
/// ones one thread per output; ArgReduce is one thread per output.</summary>
public sealed partial class IlgpuBackend
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<(string, Type), Delegate> _groupReduceKernels = new();

    /// <summary>Reduced elements per output from which a whole thread group sums each output (default 256). 1 sends every
    /// reduction there (tests); int.MaxValue none.</summary>
    public int GroupedReduceMinLength { get; set; } = 256;

    /// <summary>Threads per group of the grouped reduction; null (default): the largest power of two up to 256 the device
    /// allows. Tests vary it (the tree must work for every power of two).</summary>
    public int? ReduceGroupSize { get; set; }

    /// <summary>Reduced elements per output from which a float Sum/Mean with few outputs is split over several groups per
    /// output (<see cref="SplitSum"/>; default 16,384). Tests lower it.</summary>
    public int SplitReduceMinLength { get; set; } = 16384;

    /// <summary>Sum/Mean in two launches: enough groups per output that the device is busy (about 1024 groups in all, at
    /// least 16 elements per thread, at most 256 parts per output), float64 partials, then one group per output adds its
    /// parts. Deterministic: the chunks depend only on n, the group size and the number of outputs.</summary>
    private void SplitSum<T, TE>(ReduceOp op, Tensor x, Tensor dst, Layout4 outer, Layout4 inner, int n, int g)
        where T : unmanaged where TE : struct, IElement<T>
    {
        int outputs = dst.NumElements;
        int parts = Math.Clamp(Math.Min((1024 + outputs - 1) / outputs, (n + 16 * g - 1) / (16 * g)), 1, GroupReduceKernel.MaxGroup);
        int chunk = (n + parts - 1) / parts;
        parts = (n + chunk - 1) / chunk;                                  // no empty chunk
        var xv = View<T>(x);
        var dv = View<T>(dst);
        using var partials = New<double>(DType.Float64, outputs * parts, zeroed: false);
        var pv = partials.View;
        var first = (Action<KernelConfig, ArrayView1D<T, Stride1D.Dense>, ArrayView1D<double, Stride1D.Dense>, Layout4, Layout4, int, int, int>)
            _groupReduceKernels.GetOrAdd(("partial", typeof(T)), _ => _accelerator.LoadStreamKernel<ArrayView1D<T, Stride1D.Dense>,
                ArrayView1D<double, Stride1D.Dense>, Layout4, Layout4, int, int, int>(GroupReduceKernel.PartialSums<T, TE>));
        var second = (Action<KernelConfig, ArrayView1D<double, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, Layout4, int, int, int>)
            _groupReduceKernels.GetOrAdd(("finish", typeof(T)), _ => _accelerator.LoadStreamKernel<ArrayView1D<double, Stride1D.Dense>,
                ArrayView1D<T, Stride1D.Dense>, Layout4, int, int, int>(GroupReduceKernel.FinishSums<T, TE>));
        lock (_gate)
        {
            Timed("Reduce(split)", (long)outputs * parts * g, Profile is null ? "" : $"{op} of {n} per output in {parts} parts, x {ShapeUtil.Format(x.Shape)}",
                () => first(new KernelConfig(new Index1D(outputs * parts), new Index1D(g)), xv, pv, outer, inner, n, parts, chunk));
            Timed("Reduce(split 2)", (long)outputs * g, "",
                () => second(new KernelConfig(new Index1D(outputs), new Index1D(g)), pv, dv, outer, n, parts, op == ReduceOp.Mean ? 1 : 0));
        }
    }

    private int ReduceGroup()
    {
        int max = Math.Min(GroupReduceKernel.MaxGroup, _accelerator.MaxNumThreadsPerGroup);
        if (ReduceGroupSize is { } g)
        {
            if (g < 1 || g > max || (g & (g - 1)) != 0)
                throw new ArgumentOutOfRangeException(nameof(ReduceGroupSize), $"ReduceGroupSize {g}: a power of two in 1..{max}.");
            return g;
        }
        int p = 1;
        while (p * 2 <= max) p *= 2;
        return p;
    }

    public void Reduce(ReduceOp op, Tensor x, ReadOnlySpan<int> axes, Tensor dst, int correction = 0)
    {
        switch (x.DType)
        {
            case DType.Float32: ReduceTyped<float, F32>(op, x, axes, dst, correction, wide: 1); break;
            case DType.Float64: ReduceTyped<double, F64>(op, x, axes, dst, correction, wide: 0); break;
            case DType.Int32: ReduceTyped<int, I32>(op, x, axes, dst, correction, wide: 0); break;
            case DType.Int64: ReduceTyped<long, I64>(op, x, axes, dst, correction, wide: 0); break;
            case DType.Bool when op is ReduceOp.Max or ReduceOp.Min: ReduceTyped<byte, Bool8>(op, x, axes, dst, correction, wide: 0); break;
            default: throw new NotSupportedException($"Reduce {op} is not defined for {x.DType.Name()}.");
        }
    }

    private void ReduceTyped<T, TE>(ReduceOp op, Tensor x, ReadOnlySpan<int> axes, Tensor dst, int correction, int wide)
        where T : unmanaged where TE : struct, IElement<T>
    {
        // dst has size 1 on the reduced axes, so the outer layout drops them by itself.
        var outer = LayoutBuilder.Build(dst.Shape, dst, x);
        var rShape = new int[axes.Length];
        var rStrides = new int[axes.Length];
        for (int k = 0; k < axes.Length; k++) { rShape[k] = x.Shape[axes[k]]; rStrides[k] = x.Strides[axes[k]]; }
        var inner = LayoutBuilder.Build(rShape, new Tensor(x.Storage, 0, rShape, rStrides));
        int n = ShapeUtil.NumElements(rShape);
        var xv = View<T>(x);
        var dv = View<T>(dst);
        if (n >= GroupedReduceMinLength && dst.NumElements > 0)
        {
            int g = ReduceGroup();
            if (n >= SplitReduceMinLength && op is ReduceOp.Sum or ReduceOp.Mean && (wide != 0 || typeof(T) == typeof(double)))
            {
                SplitSum<T, TE>(op, x, dst, outer, inner, n, g);
                return;
            }
            var kernel = (Action<KernelConfig, ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, Layout4, Layout4, int, int, int, int>)
                _groupReduceKernels.GetOrAdd(("reduce", typeof(T)), _ => _accelerator.LoadStreamKernel<ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>,
                    Layout4, Layout4, int, int, int, int>(GroupReduceKernel.Reduce<T, TE>));
            lock (_gate)
                Timed("Reduce(grouped)", (long)dst.NumElements * g, Profile is null ? "" : $"{op} of {n} per output, x {ShapeUtil.Format(x.Shape)}",
                    () => kernel(new KernelConfig(new Index1D(dst.NumElements), new Index1D(g)), xv, dv, outer, inner, n, (int)op, wide, correction));
            return;
        }
        Launch(dst.NumElements, i => _kernels.Get<ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, Layout4, Layout4, int, int, int, int>(
            ReduceKernels.Reduce<T, TE>)(i, xv, dv, outer, inner, n, (int)op, wide, correction),
            Profile is null ? "" : $"{op} of {n} per output, x {ShapeUtil.Format(x.Shape)}");
    }

    public void ArgReduce(ArgReduceOp op, Tensor x, int axis, Tensor dst)
    {
        int isMax = op == ArgReduceOp.ArgMax ? 1 : 0;
        switch (x.DType)
        {
            case DType.Float32: ArgTyped<float, F32>(x, axis, dst, isMax); break;
            case DType.Float64: ArgTyped<double, F64>(x, axis, dst, isMax); break;
            case DType.Int32: ArgTyped<int, I32>(x, axis, dst, isMax); break;
            case DType.Int64: ArgTyped<long, I64>(x, axis, dst, isMax); break;
            case DType.Bool: ArgTyped<byte, Bool8>(x, axis, dst, isMax); break;
        }
    }

    private void ArgTyped<T, TE>(Tensor x, int axis, Tensor dst, int isMax) where T : unmanaged where TE : struct, IElement<T>
    {
        var outer = LayoutBuilder.Build(dst.Shape, dst, x);
        int n = x.Shape[axis], stride = x.Strides[axis];
        var xv = View<T>(x);
        var dv = View<long>(dst);
        Launch(dst.NumElements, i => _kernels.Get<ArrayView1D<T, Stride1D.Dense>, ArrayView1D<long, Stride1D.Dense>, Layout4, int, int, int>(
            ReduceKernels.ArgReduce<T, TE>)(i, xv, dv, outer, n, stride, isMax));
    }
}
