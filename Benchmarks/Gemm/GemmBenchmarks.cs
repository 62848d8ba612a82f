using BenchmarkDotNet.Attributes;
using Sparkle.Tensors.Cpu;

namespace Sparkle.Benchmarks.Gemm;

/// <summary>BenchmarkDotNet: float32 GEMM N³ (row-major operands) at 1 and 2 threads.
/// Run with `dotnet run -c Release --project Benchmarks -- --filter '*GemmBenchmarks*'`.</summary>
[MemoryDiagnoser]
public class GemmBenchmarks
{
    private GemmCase<float> _case = null!;
    private int _savedThreads;

    [Params(1024, 2048)] public int N { get; set; }
    [Params(1, 2)] public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _case = new GemmCase<float>(N, N, N);
        _savedThreads = IntraOpPool.NumThreads;
        IntraOpPool.NumThreads = Threads;
    }

    [GlobalCleanup]
    public void Cleanup() => IntraOpPool.NumThreads = _savedThreads;

    [Benchmark] public void Sgemm() => _case.Run();
}
