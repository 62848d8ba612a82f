using System.Numerics.Tensors;
using Sparkle.Benchmarks.Quick;
using Sparkle.Tensors;
using Sparkle.Tensors.Cpu;
using Tensor = Sparkle.Tensors.Tensor;

namespace Sparkle.Benchmarks.Elementwise;

/// <summary>`quick reduce`: float32 reductions of a 16x64x56x56 tensor in the layouts a CNN needs (all elements;
/// BN statistics over (0,2,3) of NCHW and of channels-last; LayerNorm over the last dim), 1 and 2 threads,
/// with TensorPrimitives.Sum over the same array as the baseline (single-threaded). gbps counts reading x once
/// (var reads it twice).</summary>
public sealed class ReduceQuickSuite : IQuickSuite
{
    public string Name => "reduce";

    public void Run(string[] args)
    {
        int[] shape = [16, 64, 56, 56];
        int n = ShapeUtil.NumElements(shape);
        var rng = new Random(3);
        var xs = Enumerable.Range(0, n).Select(_ => (float)rng.NextDouble()).ToArray();
        var x = Tensor.FromArray(xs, shape);
        var channelsLast = Tensor.FromArray(xs, [16, 56, 56, 64]).Permute(0, 3, 1, 2); // NCHW view, NHWC memory
        var baseline = AddQuickSuite.Measure(() => TensorPrimitives.Sum(xs));
        Line("baseline=TensorPrimitives.Sum(all)", 1, baseline, n);
        int saved = IntraOpPool.NumThreads;
        foreach (int threads in new[] { 1, 2 })
        {
            IntraOpPool.NumThreads = threads;
            var cases = new (string, Action)[]
            {
                ("sum(all)", () => x.Sum()),
                ("sum(0,2,3) nchw", () => x.Sum(0, 2, 3)),
                ("sum(0,2,3) channels-last", () => channelsLast.Sum(0, 2, 3)),
                ("mean(-1)", () => x.Mean(-1)),
                ("var(-1)", () => x.Var([-1])),
                ("max(1)", () => x.Max(1)),
            };
            foreach (var (name, action) in cases)
            {
                var t = AddQuickSuite.Measure(action);
                Line(name, threads, t, n, $" vs_baseline={baseline.MedianMs / t.MedianMs:F2}x");
            }
        }
        IntraOpPool.NumThreads = saved;
    }

    private static void Line(string what, int threads, (double MedianMs, double MinMs) t, int n, string extra = "") =>
        Console.WriteLine($"reduce {what.Replace(' ', '_')} shape=16x64x56x56 threads={threads} median_ms={t.MedianMs:F3} min_ms={t.MinMs:F3} gbps={4.0 * n / (t.MedianMs * 1e6):F1}{extra}");
}
