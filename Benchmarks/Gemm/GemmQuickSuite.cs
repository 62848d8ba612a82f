using System.Numerics;
using System.Runtime.Intrinsics;
using Sparkle.Benchmarks.Quick;
using Sparkle.Tensors.Cpu;
using Sparkle.Tensors.Cpu.Gemm;

namespace Sparkle.Benchmarks.Gemm;

/// <summary>
/// `quick gemm`: the FMA peak, then float32 GEMM 1024³ and 2048³ at 1 and 2 threads, plus float64 and
/// transposed-operand cases. Filters: any key=value of a line (e.g. `m=1024 threads=1`, `dtype=float64`).
/// <code>
/// gemm peak isa=avx2 threads=1 gflops=...
/// gemm m=1024 n=1024 k=1024 threads=2 median_ms=... gflops=...
/// gemm m=1024 n=1024 k=1024 threads=1 dtype=float64 median_ms=... gflops=...
/// gemm m=1024 n=1024 k=1024 threads=1 layout=nt median_ms=... gflops=...
/// </code>
/// </summary>
public sealed class GemmQuickSuite : IQuickSuite
{
    public string Name => "gemm";

    public void Run(string[] args)
    {
        var filters = args.Select(a => a.Split('=', 2)).Where(p => p.Length == 2).ToDictionary(p => p[0], p => p[1]);
        Console.WriteLine($"# gemm kernel={GemmKernels.Best} cores={Environment.ProcessorCount} vector512={Vector512.IsHardwareAccelerated}");

        foreach (int threads in new[] { 1, 2 })
        {
            if (Skip(filters, ("peak", "1"), ("threads", threads.ToString()))) continue;
            bool wide = Vector512.IsHardwareAccelerated;
            Console.WriteLine($"gemm peak isa={(wide ? "avx512" : "avx2")} threads={threads} gflops={FmaPeak.Measure(wide, threads):F1}");
        }

        foreach (int size in new[] { 1024, 2048 })
            foreach (int threads in new[] { 1, 2 })
                Case<float>(filters, size, threads, "float32", "nn");
        foreach (int threads in new[] { 1, 2 })
            Case<double>(filters, 1024, threads, "float64", "nn");
        foreach (string layout in new[] { "nt", "tn" })
            foreach (int threads in new[] { 1, 2 })
                Case<float>(filters, 1024, threads, "float32", layout);
    }

    private static void Case<T>(Dictionary<string, string> filters, int size, int threads, string dtype, string layout)
        where T : unmanaged, INumber<T>
    {
        string s = size.ToString();
        if (Skip(filters, ("m", s), ("n", s), ("k", s), ("threads", threads.ToString()), ("dtype", dtype), ("layout", layout))) return;
        var g = new GemmCase<T>(size, size, size, layout);
        int saved = IntraOpPool.NumThreads;
        IntraOpPool.NumThreads = threads;
        try
        {
            var (median, _) = QuickRunner.Time(g.Run, reps: 7, warmup: 2);
            string extra = (dtype == "float32" ? "" : $" dtype={dtype}") + (layout == "nn" ? "" : $" layout={layout}");
            Console.WriteLine($"gemm m={size} n={size} k={size} threads={threads}{extra} median_ms={median:F2} gflops={g.Gflop / (median / 1e3):F1}");
        }
        finally { IntraOpPool.NumThreads = saved; }
    }

    /// <summary>True when a filter names one of the line's keys with another value. Keys a line lacks
    /// (dtype/layout on default lines) count as their default.</summary>
    private static bool Skip(Dictionary<string, string> filters, params (string Key, string Value)[] line)
    {
        foreach (var (key, value) in line)
            if (filters.TryGetValue(key, out var want) && want != value) return true;
        return false;
    }
}
