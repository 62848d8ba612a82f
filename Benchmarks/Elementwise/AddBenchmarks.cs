using System.Numerics.Tensors;
using BenchmarkDotNet.Attributes;
using Sparkle.Tensors;
using Tensor = Sparkle.Tensors.Tensor;
using Sparkle.Tensors.Backend;
using Sparkle.Tensors.Cpu;

namespace Sparkle.Benchmarks.Elementwise;

/// <summary>BenchmarkDotNet: float32 NCHW add, same shape and per-channel bias, against TensorPrimitives.Add
/// on arrays of the same size (the baseline). Run: dotnet run -c Release --project Benchmarks -- --filter *AddBenchmarks*</summary>
[MemoryDiagnoser]
public class AddBenchmarks
{
    private static readonly int[] Shape = [16, 64, 56, 56];
    private float[] _xs = [], _ys = [], _out = [];
    private Tensor _x = null!, _y = null!, _bias = null!, _dst = null!;

    [Params(1, 2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        IntraOpPool.NumThreads = Threads;
        int n = ShapeUtil.NumElements(Shape);
        var rng = new Random(1);
        _xs = Enumerable.Range(0, n).Select(_ => (float)rng.NextDouble()).ToArray();
        _ys = Enumerable.Range(0, n).Select(_ => (float)rng.NextDouble()).ToArray();
        _out = new float[n];
        _x = Tensor.FromArray(_xs, Shape);
        _y = Tensor.FromArray(_ys, Shape);
        _bias = Tensor.FromArray(Enumerable.Range(0, 64).Select(i => i * 0.01f).ToArray(), [64, 1, 1]);
        _dst = Tensor.Zeros(Shape);
    }

    [Benchmark(Baseline = true)]
    public void TensorPrimitivesAdd() => TensorPrimitives.Add(_xs, _ys, _out);

    [Benchmark]
    public void KernelSameShape() => CpuBackend.Instance.Binary(BinaryOp.Add, _x, _y, _dst);

    [Benchmark]
    public void KernelChannelBias() => CpuBackend.Instance.Binary(BinaryOp.Add, _x, _bias.Expand(Shape), _dst);

    [Benchmark]
    public Tensor ApiChannelBias() => _x + _bias;
}
