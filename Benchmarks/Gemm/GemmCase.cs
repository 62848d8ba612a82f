using System.Numerics;
using Sparkle.Tensors.Cpu.Gemm;

namespace Sparkle.Benchmarks.Gemm;

/// <summary>One GEMM problem with random operands, ready to run repeatedly (shared by the quick suite
/// and the BenchmarkDotNet classes). Layout "nn" = row-major A and B; "nt" = B given transposed
/// (B is N x K row-major, as in x @ Wᵀ); "tn" = A given transposed.</summary>
internal sealed class GemmCase<T> where T : unmanaged, INumber<T>
{
    private readonly StridedMatrix<T> _a, _b;
    private readonly T[] _c;
    public int M { get; }
    public int N { get; }
    public int K { get; }
    public double Gflop => 2.0 * M * N * K / 1e9;

    public GemmCase(int m, int n, int k, string layout = "nn", int seed = 1)
    {
        M = m; N = n; K = k;
        var rng = new Random(seed);
        T[] Fill(int len) { var x = new T[len]; for (int i = 0; i < len; i++) x[i] = T.CreateChecked(rng.NextDouble() - 0.5); return x; }
        _a = layout[0] == 't' ? new StridedMatrix<T>(Fill(m * k), 0, 1, m) : new StridedMatrix<T>(Fill(m * k), 0, k, 1);
        _b = layout[1] == 't' ? new StridedMatrix<T>(Fill(k * n), 0, 1, k) : new StridedMatrix<T>(Fill(k * n), 0, n, 1);
        _c = new T[m * n];
    }

    public void Run() => Blas.Gemm(M, N, K, _a, _b, _c, 0, N, accumulate: false);
}
