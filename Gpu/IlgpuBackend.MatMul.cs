using ILGPU;
using ILGPU.Runtime;
using Sparkle.Gpu.Kernels;
using Sparkle.Tensors;

namespace Sparkle.Gpu;

/// <summary>Batched matmul (float32/float64) through the naive <see cref="MatMulKernel"/>.</summary>
public sealed partial class IlgpuBackend
{
    public void MatMul(Tensor a, Tensor b, Tensor dst, bool accumulate = false)
    {
        switch (a.DType)
        {
            case DType.Float32: MatMulTyped<float, F32>(a, b, dst, accumulate); break;
            case DType.Float64: MatMulTyped<double, F64>(a, b, dst, accumulate); break;
            default: throw new NotSupportedException($"MatMul is defined for float32 and float64, got {a.DType.Name()}.");
        }
    }

    private void MatMulTyped<T, TE>(Tensor a, Tensor b, Tensor dst, bool accumulate) where T : unmanaged where TE : struct, IElement<T>
    {
        var p = new MatMulArgs
        {
            M = dst.Shape[1], N = dst.Shape[2], K = a.Shape[2],
            AOff = a.Offset, SaB = a.Strides[0], SaM = a.Strides[1], SaK = a.Strides[2],
            BOff = b.Offset, SbB = b.Strides[0], SbK = b.Strides[1], SbN = b.Strides[2],
            Accumulate = accumulate ? 1 : 0,
        };
        var av = View<T>(a);
        var bv = View<T>(b);
        var dv = View<T>(dst);
        int dOff = dst.Offset;
        Launch(dst.NumElements, i => _kernels.Get<ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, int, MatMulArgs>(
            MatMulKernel.MatMul<T, TE>)(i, av, bv, dv, dOff, p));
    }
}
