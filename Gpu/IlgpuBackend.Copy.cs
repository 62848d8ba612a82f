using ILGPU;
using ILGPU.Runtime;
using Sparkle.Gpu.Kernels;
using Sparkle.Tensors;

namespace Sparkle.Gpu;

/// <summary>Copy with casts, and fill. Each (source, destination) dtype pair is its own kernel instantiation,
/// compiled on first use; same-dtype copies move bits unchanged.</summary>
public sealed partial class IlgpuBackend
{
    public void Copy(Tensor src, Tensor dst)
    {
        switch (src.DType)
        {
            case DType.Float32: CopyFrom<float, F32>(src, dst); break;
            case DType.Float64: CopyFrom<double, F64>(src, dst); break;
            case DType.Int32: CopyFrom<int, I32>(src, dst); break;
            case DType.Int64: CopyFrom<long, I64>(src, dst); break;
            case DType.Bool: CopyFrom<byte, Bool8>(src, dst); break;
        }
    }

    private void CopyFrom<TS, ES>(Tensor src, Tensor dst) where TS : unmanaged where ES : struct, IElement<TS>
    {
        if (src.DType == dst.DType)
        {
            var l = LayoutBuilder.Build(dst.Shape, dst, src);
            var s = View<TS>(src);
            var d = View<TS>(dst);
            Launch(dst.NumElements, i => _kernels.Get<ArrayView1D<TS, Stride1D.Dense>, ArrayView1D<TS, Stride1D.Dense>, Layout4>(CopyKernels.Copy<TS>)(i, s, d, l));
            return;
        }
        switch (dst.DType)
        {
            case DType.Float32: Cast<TS, float, ES, F32>(src, dst); break;
            case DType.Float64: Cast<TS, double, ES, F64>(src, dst); break;
            case DType.Int32: Cast<TS, int, ES, I32>(src, dst); break;
            case DType.Int64: Cast<TS, long, ES, I64>(src, dst); break;
            case DType.Bool: Cast<TS, byte, ES, Bool8>(src, dst); break;
        }
    }

    private void Cast<TS, TD, ES, ED>(Tensor src, Tensor dst)
        where TS : unmanaged where TD : unmanaged where ES : struct, IElement<TS> where ED : struct, IElement<TD>
    {
        var l = LayoutBuilder.Build(dst.Shape, dst, src);
        var s = View<TS>(src);
        var d = View<TD>(dst);
        int viaLong = src.DType is DType.Int32 or DType.Int64 && dst.DType is DType.Int32 or DType.Int64 ? 1 : 0;
        Launch(dst.NumElements, i => _kernels.Get<ArrayView1D<TS, Stride1D.Dense>, ArrayView1D<TD, Stride1D.Dense>, Layout4, int>(
            CopyKernels.Cast<TS, TD, ES, ED>)(i, s, d, l, viaLong));
    }

    public void Fill(Tensor dst, double value)
    {
        switch (dst.DType)
        {
            case DType.Float32: FillTyped(dst, (float)value); break;
            case DType.Float64: FillTyped(dst, value); break;
            case DType.Int32: FillTyped(dst, (int)value); break;
            case DType.Int64: FillTyped(dst, (long)value); break;
            case DType.Bool: FillTyped(dst, value != 0 ? (byte)1 : (byte)0); break;
        }
    }

    private void FillTyped<T>(Tensor dst, T value) where T : unmanaged
    {
        var l = LayoutBuilder.Build(dst.Shape, dst);
        var d = View<T>(dst);
        Launch(dst.NumElements, i => _kernels.Get<ArrayView1D<T, Stride1D.Dense>, Layout4, T>(CopyKernels.Fill<T>)(i, d, l, value));
    }
}
