using System.Numerics.Tensors;
using Sparkle.Benchmarks.Quick;
using Sparkle.Tensors;
using Tensor = Sparkle.Tensors.Tensor;
using Sparkle.Tensors.Backend;
using Sparkle.Tensors.Cpu;

namespace Sparkle.Benchmarks.Elementwise;

/// <summary>
/// `quick add`: float32 add on an NCHW activation, with a per-channel bias (broadcast 64x1x1) and with a same-shape
/// tensor, for 1 and 2 threads. "kernel" writes into a preallocated result (the backend op alone); "api" is
/// Tensor + Tensor including the result allocation. Baselines in the same run: TensorPrimitives.Add on arrays of
/// the same size (x + y for the same-shape case, one row + scalar per (n, c) for the bias case), single-threaded.
/// gbps counts the bytes an ideal kernel moves: reads of the tensor operands plus the write of the result.
/// </summary>
public sealed class AddQuickSuite : IQuickSuite
{
    public string Name => "add";

    public void Run(string[] args)
    {
        int[] shape = [16, 64, 56, 56];
        int n = ShapeUtil.NumElements(shape), rowLen = 56 * 56, rows = n / rowLen;
        var rng = new Random(1);
        var xs = Enumerable.Range(0, n).Select(_ => (float)rng.NextDouble()).ToArray();
        var ys = Enumerable.Range(0, n).Select(_ => (float)rng.NextDouble()).ToArray();
        var bs = Enumerable.Range(0, 64).Select(_ => (float)rng.NextDouble()).ToArray();
        var x = Tensor.FromArray(xs, shape);
        var y = Tensor.FromArray(ys, shape);
        var bias = Tensor.FromArray(bs, [64, 1, 1]);
        var dst = Tensor.Zeros(shape);
        var dstArray = new float[n];
        string s = string.Join("x", shape);

        // baselines (TensorPrimitives is single-threaded)
        var tpSame = Measure(() => TensorPrimitives.Add(xs, ys, dstArray));
        Print($"add baseline=TensorPrimitives.Add(x,y) shape={s} threads=1", tpSame, 12.0 * n);
        var tpBias = Measure(() =>
        {
            for (int r = 0; r < rows; r++)
                TensorPrimitives.Add(xs.AsSpan(r * rowLen, rowLen), bs[r % 64], dstArray.AsSpan(r * rowLen, rowLen));
        });
        Print($"add baseline=TensorPrimitives.Add(row,scalar) shape={s} broadcast=64x1x1 threads=1", tpBias, 8.0 * n);

        int saved = IntraOpPool.NumThreads;
        foreach (int threads in new[] { 1, 2 })
        {
            IntraOpPool.NumThreads = threads;
            var kBias = Measure(() => CpuBackend.Instance.Binary(BinaryOp.Add, x, bias.Expand(shape), dst));
            Print($"add kernel shape={s} broadcast=64x1x1 threads={threads}", kBias, 8.0 * n, tpBias.MedianMs);
            var kSame = Measure(() => CpuBackend.Instance.Binary(BinaryOp.Add, x, y, dst));
            Print($"add kernel shape={s} broadcast=none threads={threads}", kSame, 12.0 * n, tpSame.MedianMs);
            var aBias = Measure(() => _ = x + bias);
            Print($"add api shape={s} broadcast=64x1x1 threads={threads}", aBias, 8.0 * n, tpBias.MedianMs);
            var aSame = Measure(() => _ = x + y);
            Print($"add api shape={s} broadcast=none threads={threads}", aSame, 12.0 * n, tpSame.MedianMs);
        }
        IntraOpPool.NumThreads = saved;
    }

    /// <summary>QuickRunner.Time after a longer warm-up that lets tiered JIT reach optimised code: runs, a pause
    /// (call counting starts only after 100 ms without new tier-0 code), runs again. Two warm-up runs alone
    /// leave kernels in tier-0 code and made some cases look up to ten times slower.</summary>
    internal static (double MedianMs, double MinMs) Measure(Action action)
    {
        for (int round = 0; round < 2; round++)
        {
            for (int i = 0; i < 40; i++) action();
            Thread.Sleep(300);
        }
        return QuickRunner.Time(action, reps: 9);
    }

    /// <summary>One line: median and min (the min is the better estimate on a shared, noisy machine), GB/s from
    /// the median, and the ratio baseline/this (above 1 = faster than the baseline) from medians.</summary>
    private static void Print(string what, (double MedianMs, double MinMs) t, double bytes, double baselineMs = double.NaN)
    {
        string ratio = double.IsNaN(baselineMs) ? "" : $" vs_baseline={baselineMs / t.MedianMs:F2}x";
        Console.WriteLine($"{what} median_ms={t.MedianMs:F3} min_ms={t.MinMs:F3} gbps={bytes / (t.MedianMs * 1e6):F1}{ratio}");
    }
}
