using System.Numerics.Tensors;
using Sparkle.Benchmarks.Quick;
using Sparkle.Tensors;
using Sparkle.Tensors.Backend;
using Sparkle.Tensors.Cpu;
using Tensor = Sparkle.Tensors.Tensor;

namespace Sparkle.Benchmarks.Elementwise;

/// <summary>`quick activations`: float32 unary kernels on a contiguous 16x64x56x56 tensor into a preallocated result,
/// for 1 and 2 threads, with TensorPrimitives on same-size arrays as the baseline where it has the op
/// (single-threaded). Lines: `activations op=gelu ... median_ms=... min_ms=... gelem_per_s=...`.</summary>
public sealed class ActivationsQuickSuite : IQuickSuite
{
    public string Name => "activations";

    public void Run(string[] args)
    {
        int[] shape = [16, 64, 56, 56];
        int n = ShapeUtil.NumElements(shape);
        var rng = new Random(2);
        var xs = Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 8 - 4)).ToArray();
        var outArr = new float[n];
        var x = Tensor.FromArray(xs, shape);
        var dst = Tensor.Zeros(shape);
        var baselines = new Dictionary<UnaryOp, Action>
        {
            [UnaryOp.Exp] = () => TensorPrimitives.Exp(xs, outArr),
            [UnaryOp.Sigmoid] = () => TensorPrimitives.Sigmoid(xs, outArr),
            [UnaryOp.Tanh] = () => TensorPrimitives.Tanh(xs, outArr),
        };
        var baseMs = new Dictionary<UnaryOp, double>();
        foreach (var (op, action) in baselines)
        {
            var t = AddQuickSuite.Measure(action);
            baseMs[op] = t.MedianMs;
            Line($"op={op.ToString().ToLowerInvariant()} baseline=TensorPrimitives threads=1", t, n);
        }
        int saved = IntraOpPool.NumThreads;
        foreach (int threads in new[] { 1, 2 })
        {
            IntraOpPool.NumThreads = threads;
            foreach (var op in new[] { UnaryOp.Gelu, UnaryOp.Erf, UnaryOp.Sigmoid, UnaryOp.Tanh, UnaryOp.Exp, UnaryOp.Relu })
            {
                var t = AddQuickSuite.Measure(() => CpuBackend.Instance.Unary(op, x, dst));
                string ratio = baseMs.TryGetValue(op, out double b) ? $" vs_baseline={b / t.MedianMs:F2}x" : "";
                Line($"op={op.ToString().ToLowerInvariant()} kernel threads={threads}", t, n, ratio);
            }
        }
        IntraOpPool.NumThreads = saved;
    }

    private static void Line(string what, (double MedianMs, double MinMs) t, int n, string extra = "") =>
        Console.WriteLine($"activations {what} shape=16x64x56x56 median_ms={t.MedianMs:F3} min_ms={t.MinMs:F3} gelem_per_s={n / (t.MedianMs * 1e6):F2}{extra}");
}
