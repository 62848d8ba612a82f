using System.Collections.Concurrent;
using ILGPU;
using ILGPU.Runtime;
using Sparkle.Gpu.Kernels;
using Sparkle.Tensors;

namespace Sparkle.Gpu;

/// <summary>Batched matmul (float32/float64): the shared-memory tiled <see cref="TiledMatMulKernel"/>, with the naive
/// <see cref="MatMulKernel"/> as the fallback (tiling off, or a grid beyond the 65,535 limit of grid y/z).</summary>
public sealed partial class IlgpuBackend
{
    private readonly ConcurrentDictionary<Type, Delegate> _gemmKernels = new();

    /// <summary>Use the tiled GEMM (default). Off: the naive one-thread-per-output kernel (for A/B timing and tests).</summary>
    public bool TiledMatMul { get; set; } = true;

    /// <summary>Threads of a tiled-GEMM group as (TX, TY): block tile (4·TY) x (4·TX). Null: 16x16 (64x64 tiles) where the device
    /// allows 256 threads per group, else 8x8, else 4x4 (the CPU simulator's 16-thread groups).</summary>
    public (int Tx, int Ty)? MatMulGroup { get; set; }

    /// <summary>Tiled-GEMM launches so far (tests check the path taken).</summary>
    public long TiledMatMulLaunches { get; private set; }

    public void MatMul(Tensor a, Tensor b, Tensor dst, bool accumulate = false)
    {
        switch (a.DType)
        {
            case DType.Float32: MatMulTyped<float, F32>(a, b, dst, accumulate); break;
            case DType.Float64: MatMulTyped<double, F64>(a, b, dst, accumulate); break;
            default: throw new NotSupportedException($"MatMul is defined for float32 and float64, got {a.DType.Name()}.");
        }
    }

    private (int Tx, int Ty) GemmGroup()
    {
        if (MatMulGroup is { } g)
        {
            if (g.Tx < 1 || g.Ty < 1 || g.Tx > 16 || g.Ty > 16 || g.Tx * g.Ty > _accelerator.MaxNumThreadsPerGroup)
                throw new ArgumentOutOfRangeException(nameof(MatMulGroup), $"MatMulGroup {g}: TX, TY in 1..16 and TX·TY <= {_accelerator.MaxNumThreadsPerGroup}.");
            return g;
        }
        int max = _accelerator.MaxNumThreadsPerGroup;
        return max >= 256 ? (16, 16) : max >= 64 ? (8, 8) : (4, 4);
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
        int dOff = dst.Offset, batches = dst.Shape[0];
        if (dst.NumElements == 0) return;
        if (typeof(T) == typeof(float) && TryTf32MatMul(a, b, dst, p)) return;   // TF32 tensor cores (IlgpuBackend.Tf32.cs)
        if (TiledMatMul)
        {
            var (tx, ty) = GemmGroup();
            int gx = (p.N + 4 * tx - 1) / (4 * tx), gy = (p.M + 4 * ty - 1) / (4 * ty);
            if (gy <= 65535 && batches <= 65535)
            {
                var kernel = (Action<KernelConfig, ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, int, MatMulArgs, int, int>)
                    _gemmKernels.GetOrAdd(typeof(T), _ => _accelerator.LoadStreamKernel<ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>,
                        ArrayView1D<T, Stride1D.Dense>, int, MatMulArgs, int, int>(TiledMatMulKernel.MatMul<T, TE>));
                lock (_gate)
                {
                    Timed("MatMul(tiled)", (long)gx * gy * batches * tx * ty, Profile is null ? "" : $"B={batches} M={p.M} N={p.N} K={p.K}",
                        () => kernel(new KernelConfig(new Index3D(gx, gy, batches), new Index3D(tx * ty, 1, 1)), av, bv, dv, dOff, p, tx, ty));
                    TiledMatMulLaunches++;
                }
                return;
            }
        }
        Launch(dst.NumElements, i => _kernels.Get<ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, int, MatMulArgs>(
            MatMulKernel.MatMul<T, TE>)(i, av, bv, dv, dOff, p), Profile is null ? "" : $"B={batches} M={p.M} N={p.N} K={p.K}");
    }
}
