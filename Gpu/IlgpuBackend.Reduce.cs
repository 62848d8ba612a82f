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
    private readonly System.Collections.Concurrent.ConcurrentDictionary<Type, Delegate> _groupReduceKernels = new();

    /// <summary>Reduced elements per output from which a whole thread group sums each output (default 256). 1 sends every
    /// reduction there (tests); int.MaxValue none.</summary>
    public int GroupedReduceMinLength { get; set; } = 256;

    /// <summary>Threads per group of the grouped reduction; null (default): the largest power of two up to 256 the device
    /// allows. Tests vary it (the tree must work for every power of two).</summary>
    public int? ReduceGroupSize { get; set; }

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
            var kernel = (Action<KernelConfig, ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, Layout4, Layout4, int, int, int, int>)
                _groupReduceKernels.GetOrAdd(typeof(T), _ => _accelerator.LoadStreamKernel<ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>,
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
