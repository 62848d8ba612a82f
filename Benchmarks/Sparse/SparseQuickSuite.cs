using Sparkle.Benchmarks.Quick;

namespace Sparkle.Benchmarks.Sparse;

/// <summary>`quick sparse`: forward+backward of stacks of 3x3, 1x1 and depthwise 7x7 convs at mask ratio 0.6
/// (f = 7 at 56x56 maps, 40.8 % active), sparse vs masked-dense (dense conv then × mask) in the same run.
/// ratio = sparse / masked-dense (targets: <= 0.55 for 3x3 and 1x1, <= 0.6 for depthwise 7x7).
/// Filters: kind=conv3x3|conv1x1|dw7x7, batch=N, ch=N, reps=N, clock=cpu (process CPU time instead of wall time: on
/// a machine shared with other jobs, with SPARKLE_NUM_THREADS=1, it measures the work rather than the scheduler).</summary>
public sealed class SparseQuickSuite : IQuickSuite
{
    public string Name => "sparse";

    public void Run(string[] args)
    {
        var opts = args.Select(a => a.Split('=', 2)).Where(p => p.Length == 2).ToDictionary(p => p[0], p => p[1]);
        int batch = opts.TryGetValue("batch", out var b) ? int.Parse(b) : 4;
        var kinds = opts.TryGetValue("kind", out var k) ? [k] : new[] { "conv3x3", "conv1x1", "dw7x7" };
        foreach (var kind in kinds)
        {
            int ch = opts.TryGetValue("ch", out var c) ? int.Parse(c) : kind == "dw7x7" ? 96 : 64;
            var bc = new SparseBenchCase(kind, batch, 56, ch);
            // Interleaved samples (dense, sparse, dense, ...) so load drift on a shared machine hits both alike.
            for (int i = 0; i < 2; i++) { bc.RunMaskedDense(); bc.RunSparse(); }
            int reps = opts.TryGetValue("reps", out var rp) ? int.Parse(rp) : 9;
            bool cpu = opts.TryGetValue("clock", out var ck) && ck == "cpu";
            double Ms(Action a)
            {
                if (!cpu) return QuickRunner.Time(a, reps: 1, warmup: 0).MedianMs;
                var p = System.Diagnostics.Process.GetCurrentProcess();
                var t0 = p.TotalProcessorTime;
                a();
                p.Refresh();
                return (p.TotalProcessorTime - t0).TotalMilliseconds;
            }
            double[] ds = new double[reps], ss = new double[reps], rs = new double[reps];
            for (int i = 0; i < reps; i++)
            {
                ds[i] = Ms(bc.RunMaskedDense);
                ss[i] = Ms(bc.RunSparse);
                rs[i] = ss[i] / ds[i];
            }
            Array.Sort(ds); Array.Sort(ss); Array.Sort(rs);
            Console.WriteLine($"sparse {kind}{(cpu ? " clock=cpu" : "")} batch={batch} size=56 ch={ch} f={SparseBenchCase.F} active={bc.ActiveFraction:F3} " +
                $"sparse_ms={ss[reps / 2]:F2} masked_dense_ms={ds[reps / 2]:F2} ratio={ss[reps / 2] / ds[reps / 2]:F3} pair_ratio_median={rs[reps / 2]:F3} " +
                $"min_sparse_ms={ss[0]:F2} min_dense_ms={ds[0]:F2} ratio_of_mins={ss[0] / ds[0]:F3}");
        }
    }
}
