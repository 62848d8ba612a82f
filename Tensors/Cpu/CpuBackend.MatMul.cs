using System.Numerics;
using Sparkle.Tensors.Cpu.Gemm;

namespace Sparkle.Tensors.Cpu;

public sealed partial class CpuBackend
{
    /// <summary>Batched GEMM (see <see cref="Backend.IBackend.MatMul"/>). Three ways to run a batch:
    /// one big GEMM when b is shared and a's matrices stack into one tall matrix (a Linear layer over a
    /// batch); in parallel over the batch when each product is too small to split well; otherwise one
    /// parallel GEMM after another. All three give the same bits.</summary>
    public void MatMul(Tensor a, Tensor b, Tensor dst, bool accumulate = false)
    {
        switch (dst.DType)
        {
            case DType.Float32: MatMulTyped<float>(a, b, dst, accumulate, Options.GemmKernel); break;
            case DType.Float64: MatMulTyped<double>(a, b, dst, accumulate, Options.GemmKernel); break;
            default: throw new NotSupportedException($"MatMul supports float32 and float64, not {dst.DType.Name()}.");
        }
    }

    private static void MatMulTyped<T>(Tensor a, Tensor b, Tensor dst, bool accumulate, GemmKernel kernel) where T : unmanaged, INumber<T>
    {
        int batch = a.Size(0), m = a.Size(1), k = a.Size(2), n = b.Size(2);
        if (batch == 0 || m == 0 || n == 0) return;
        T[] da = Data<T>(a), db = Data<T>(b), dc = Data<T>(dst);
        int sa0 = a.Stride(0), sa1 = a.Stride(1), sa2 = a.Stride(2);
        int sb0 = b.Stride(0), sb1 = b.Stride(1), sb2 = b.Stride(2);

        bool sharedB = batch == 1 || sb0 == 0;
        bool aStacks = batch == 1 || m == 1 || sa0 == m * sa1;
        if (sharedB && aStacks)
        {
            int rowStride = m == 1 && batch > 1 ? sa0 : sa1;
            Blas.Gemm(batch * m, n, k, new StridedMatrix<T>(da, a.Offset, rowStride, sa2),
                new StridedMatrix<T>(db, b.Offset, sb1, sb2), dc, dst.Offset, n, accumulate, kernel);
            return;
        }

        var job = new BatchItem<T>(m, n, k, new StridedMatrix<T>(da, a.Offset, sa1, sa2), sa0,
            new StridedMatrix<T>(db, b.Offset, sb1, sb2), sb0, dc, dst.Offset, accumulate, kernel);
        // Small products: one per work item (each then runs single-threaded, as the pool does not nest).
        bool perItem = IntraOpPool.NumThreads > 1 && (long)m * n * k < 8 * Blas.ParallelMinMacs;
        if (perItem) RunBatchInParallel(job, batch);
        else for (int i = 0; i < batch; i++) job.Run(i);
    }

    // Separate method so the closure is allocated only on this path.
    private static void RunBatchInParallel<T>(BatchItem<T> job, int batch) where T : unmanaged, INumber<T> =>
        IntraOpPool.For(batch, i => job.Run(i));

    /// <summary>Product i of a batch: a and b advance by their batch strides, C by one m x n matrix.</summary>
    private readonly record struct BatchItem<T>(int M, int N, int K, StridedMatrix<T> A, int BatchStrideA,
        StridedMatrix<T> B, int BatchStrideB, T[] C, int COffset, bool Accumulate, GemmKernel Kernel) where T : unmanaged, INumber<T>
    {
        public void Run(int i) => Blas.Gemm(M, N, K, A with { Offset = A.Offset + i * BatchStrideA },
            B with { Offset = B.Offset + i * BatchStrideB }, C, COffset + i * M * N, N, Accumulate, Kernel);
    }
}
