using ILGPU;
using ILGPU.Runtime;
using Sparkle.Gpu.Kernels;
using Sparkle.Tensors;
using Sparkle.Tensors.Backend;

namespace Sparkle.Gpu;

/// <summary>Max-pool with winners (IBackend.MaxPool2dForward/Backward) in PoolKernels: one launch each way.</summary>
public sealed partial class IlgpuBackend
{
    private IlgpuStorage<int>? _noWinners;

    public void MaxPool2dForward(Tensor x, int kernel, int stride, int padding, Tensor y, Tensor? winners)
    {
        if (x.DType == DType.Float32) PoolForward<float, F32>(x, kernel, stride, padding, y, winners);
        else if (x.DType == DType.Float64) PoolForward<double, F64>(x, kernel, stride, padding, y, winners);
        else throw new NotSupportedException($"MaxPool2d supports float32 and float64, not {x.DType.Name()}.");
    }

    public void MaxPool2dBackward(Tensor gy, Tensor winners, int kernel, int stride, int padding, Tensor gx)
    {
        if (gx.DType == DType.Float32) PoolBackward<float, F32>(gy, winners, kernel, stride, padding, gx);
        else if (gx.DType == DType.Float64) PoolBackward<double, F64>(gy, winners, kernel, stride, padding, gx);
        else throw new NotSupportedException($"MaxPool2d supports float32 and float64, not {gx.DType.Name()}.");
    }

    private static MaxPoolGeometry PoolGeometry(Tensor input, Tensor output, int kernel, int stride, int padding, bool winners)
        => new(input.Size(2), input.Size(3), output.Size(2), output.Size(3), kernel, stride, padding, winners ? 1 : 0);

    private void PoolForward<T, TE>(Tensor x, int kernel, int stride, int padding, Tensor y, Tensor? winners)
        where T : unmanaged where TE : struct, IElement<T>
    {
        var geo = PoolGeometry(x, y, kernel, stride, padding, winners is not null);
        var xv = Elements<T>(x);
        var yv = Elements<T>(y);
        // Without winners (no gradient wanted) the kernel gets a one-element placeholder it never writes, made once.
        var wv = winners is not null ? Elements<int>(winners) : (_noWinners ??= New<int>(DType.Int32, 1, zeroed: false)).View;
        Launch(y.NumElements, i => _kernels.Get<ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, ArrayView1D<int, Stride1D.Dense>, MaxPoolGeometry>(
            PoolKernels.MaxPoolForward<T, TE>)(i, xv, yv, wv, geo), Profile is null ? "" : $"x {ShapeUtil.Format(x.Shape)} k{kernel} s{stride} p{padding}", "MaxPool2d");
    }

    private void PoolBackward<T, TE>(Tensor gy, Tensor winners, int kernel, int stride, int padding, Tensor gx)
        where T : unmanaged where TE : struct, IElement<T>
    {
        var geo = PoolGeometry(gx, gy, kernel, stride, padding, true);
        var gv = Elements<T>(gy);
        var wv = Elements<int>(winners);
        var dv = Elements<T>(gx);
        Launch(gx.NumElements, i => _kernels.Get<ArrayView1D<T, Stride1D.Dense>, ArrayView1D<int, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, MaxPoolGeometry>(
            PoolKernels.MaxPoolBackward<T, TE>)(i, gv, wv, dv, geo), "", "MaxPool2dBackward");
    }
}
