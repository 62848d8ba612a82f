using System.Numerics;

namespace Sparkle.Tensors.Cpu.Gemm;

/// <summary>
/// General matrix multiply for the CPU backend: C = A·B or C += A·B, float32 or float64.
/// A and B are <see cref="StridedMatrix{T}"/> views with any strides (so transposes are free); C is
/// row-major with leading dimension ldc. Chooses the algorithm in one place:
/// <list type="bullet">
/// <item>the packed, cache-blocked GEMM (<see cref="GemmDriver{T, TK}"/>) with the micro-kernel from
/// the micro-kernel the caller passes (Auto: <see cref="GemmKernels.Best"/>), threaded over <see cref="IntraOpPool"/>
/// when the work is large;</item>
/// <item>matrix-vector products (m == 1 or n == 1) with unit-stride operands go to <see cref="Gemv"/>,
/// which streams the matrix once instead of packing it (with the Vector256 and Vector512 kernels only).</item>
/// </list>
/// Results never depend on the thread count.
/// </summary>
internal static class Blas
{
    /// <summary>Below this many multiply-adds a call runs on the calling thread: the fork/join would cost
    /// more than it saves (a pool wake-up is 10-30 us on a VM; measured here, 64^3 = 2^18 MACs is slower on
    /// 2 threads than on 1, 128^3 = 2^21 is 1.4x faster).</summary>
    internal const long ParallelMinMacs = 1L << 20;

    /// <summary>C[m x n] = A[m x k] · B[k x n], or C += A·B when <paramref name="accumulate"/>. C element (i, j)
    /// is c[cOffset + i*ldc + j]. <paramref name="kernel"/> Auto means <see cref="GemmKernels.Best"/>
    /// (the CPU backend passes its options' kernel; callers that fan out over the pool pass the same one on). <paramref name="serial"/>:
    /// run on the calling thread only (callers that run independent GEMMs in parallel themselves; same bits).</summary>
    public static void Gemm<T>(int m, int n, int k, in StridedMatrix<T> a, in StridedMatrix<T> b,
        T[] c, int cOffset, int ldc, bool accumulate, GemmKernel kernel = GemmKernel.Auto, bool serial = false) where T : unmanaged, INumber<T>
    {
        if (typeof(T) != typeof(float) && typeof(T) != typeof(double))
            throw new NotSupportedException($"GEMM supports float and double, not {typeof(T).Name}.");
        if (m < 0 || n < 0 || k < 0) throw new ArgumentOutOfRangeException(nameof(m), $"GEMM sizes must be non-negative, got m={m} n={n} k={k}.");
        if (m > 1 && ldc < n) throw new ArgumentOutOfRangeException(nameof(ldc), $"ldc {ldc} is smaller than n {n}.");
        if (m == 0 || n == 0) return;
        a.CheckFits(m, k, "A");
        b.CheckFits(k, n, "B");
        new StridedMatrix<T>(c, cOffset, ldc, 1).CheckFits(m, n, "C");
        if (k == 0)
        {
            // An empty sum: C = 0, or C unchanged when accumulating.
            if (!accumulate) for (int i = 0; i < m; i++) c.AsSpan(cOffset + i * ldc, n).Clear();
            return;
        }
        long macs = (long)m * n * k;
        int threads = macs >= ParallelMinMacs && !serial ? IntraOpPool.NumThreads : 1;
        if (kernel == GemmKernel.Auto) kernel = GemmKernels.Best;
        // Gemv is written in Vector256: the AVX2 and AVX-512 families use it, the others keep their own kernel.
        if ((kernel is GemmKernel.Vector256 or GemmKernel.Vector512) && Gemv.TryRun(m, n, k, a, b, c, cOffset, ldc, accumulate, threads)) return;

        switch (kernel)
        {
            case GemmKernel.Vector512:
                GemmDriver<T, MicroKernelV512<T>>.ForThisThread.Run(m, n, k, a, b, c, cOffset, ldc, accumulate, threads);
                break;
            case GemmKernel.Vector256:
                GemmDriver<T, MicroKernelV256<T>>.ForThisThread.Run(m, n, k, a, b, c, cOffset, ldc, accumulate, threads);
                break;
            case GemmKernel.Vector128:
                GemmDriver<T, MicroKernelV128<T>>.ForThisThread.Run(m, n, k, a, b, c, cOffset, ldc, accumulate, threads);
                break;
            default:
                GemmDriver<T, MicroKernelScalar<T>>.ForThisThread.Run(m, n, k, a, b, c, cOffset, ldc, accumulate, threads);
                break;
        }
    }
}
