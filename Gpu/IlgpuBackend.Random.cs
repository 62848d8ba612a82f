using ILGPU;
using ILGPU.Runtime;
using Sparkle.Gpu.Kernels;
using Sparkle.Tensors;
using Sparkle.Tensors.Backend;
using Sparkle.Tensors.Cpu;

namespace Sparkle.Gpu;

/// <summary>Random fills by docs/random.md: element i of dst uses Philox.At(seed, offset + i) only.</summary>
public sealed partial class IlgpuBackend
{
    public void Random(RandomSpec spec, Tensor dst, ulong seed, ulong offset)
    {
        if (!dst.IsContiguous)
            throw new ArgumentException($"Random: dst must be contiguous, got shape {ShapeUtil.Format(dst.Shape)} strides {ShapeUtil.Format(dst.Strides)}.");
        bool isFloat = dst.DType.IsFloating();
        if (spec.Kind is RandomKind.Uniform or RandomKind.Normal or RandomKind.TruncatedNormal && !isFloat)
            throw new ArgumentException($"Random {spec.Kind} needs a float32 or float64 tensor, got {dst.DType.Name()}.");
        if (spec.Kind == RandomKind.TruncatedNormal) { TruncatedNormalOnHost(spec, dst, seed, offset); return; }
        long low = (long)spec.A;
        var args = new RandomArgs
        {
            Kind = (int)spec.Kind, A = spec.A, B = spec.B, Seed = seed, Offset = offset, Low = low,
            Range = spec.Kind == RandomKind.Randint ? (ulong)((long)spec.B - low) : 1,
            Float32 = dst.DType == DType.Float32 ? 1 : 0,
            Int64 = dst.DType == DType.Int64 ? 1 : 0,
        };
        switch (dst.DType)
        {
            case DType.Float32: Sample<float, F32>(dst, args); break;
            case DType.Float64: Sample<double, F64>(dst, args); break;
            case DType.Int32: Sample<int, I32>(dst, args); break;
            case DType.Int64: Sample<long, I64>(dst, args); break;
            case DType.Bool: Sample<byte, Bool8>(dst, args); break;
        }
    }

    private void Sample<T, TE>(Tensor dst, RandomArgs args) where T : unmanaged where TE : struct, IElement<T>
    {
        int n = dst.NumElements;
        if (n == 0) return;
        var dv = View<T>(dst).SubView(dst.Offset, n);
        Launch(n, i => _kernels.Get<ArrayView1D<T, Stride1D.Dense>, RandomArgs>(RandomKernel.Sample<T, TE>)(i, dv, args));
    }

    /// <summary>The truncated normal needs erfinv (ErrorFunction's tables); it only initialises weights, once, so
    /// it is drawn by the CPU backend (the same numbers by definition) and uploaded.</summary>
    private void TruncatedNormalOnHost(RandomSpec spec, Tensor dst, ulong seed, ulong offset)
    {
        var host = new Tensor(CpuBackend.Instance.Allocate(dst.DType, dst.NumElements, zeroed: false), 0, dst.ShapeArray(), ShapeUtil.ContiguousStrides(dst.Shape));
        CpuBackend.Instance.Random(spec, host, seed, offset);
        if (dst.DType == DType.Float32) UploadInto(dst, host.ToArray<float>());
        else UploadInto(dst, host.ToArray<double>());
    }

    private void UploadInto<T>(Tensor dst, T[] data) where T : unmanaged
    {
        if (data.Length == 0) return;
        lock (_gate) View<T>(dst).SubView(dst.Offset, data.Length).AsContiguous().CopyFromCPU(data);
    }
}
