using BenchmarkDotNet.Attributes;

namespace Sparkle.Benchmarks.Sparse;

/// <summary>BenchmarkDotNet: the `quick sparse` cases (forward + backward of conv stacks at mask ratio 0.6, 56x56,
/// f = 7), sparse against the masked-dense baseline. Run: dotnet run -c Release --project Benchmarks -- --filter *SparseConvBenchmarks*</summary>
[MemoryDiagnoser]
public class SparseConvBenchmarks
{
    private SparseBenchCase _case = null!;

    [Params("conv3x3", "conv1x1", "dw7x7")]
    public string Kind { get; set; } = "conv3x3";

    [GlobalSetup]
    public void Setup() => _case = new SparseBenchCase(Kind, 4, 56, Kind == "dw7x7" ? 96 : 64);

    [Benchmark(Baseline = true)]
    public void MaskedDense() => _case.RunMaskedDense();

    [Benchmark]
    public void Sparse() => _case.RunSparse();
}
