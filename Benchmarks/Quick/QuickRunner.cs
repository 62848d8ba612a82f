using System.Diagnostics;
using Sparkle.Tensors.Cpu;

namespace Sparkle.Benchmarks.Quick;

public static class QuickRunner
{
    public static void Run(string[] args)
    {
        var suites = typeof(IQuickSuite).Assembly.GetTypes()
            .Where(t => typeof(IQuickSuite).IsAssignableFrom(t) && !t.IsAbstract && !t.IsInterface)
            .Select(t => (IQuickSuite)Activator.CreateInstance(t)!)
            .OrderBy(s => s.Name).ToList();
        // Leading words that name suites select them; the words after them go to the suites (`quick nets r18`).
        var names = suites.Select(s => s.Name).Append("all").ToHashSet();
        var wanted = args.TakeWhile(names.Contains).ToList();
        var rest = args.Skip(wanted.Count).ToArray();
        if (wanted.Count == 0 && rest.Length > 0 && !rest[0].Contains('='))
        {
            Console.Error.WriteLine($"unknown quick suite '{rest[0]}'; known: {string.Join(", ", suites.Select(x => x.Name))}");
            Environment.Exit(2);
        }
        if (wanted.Count == 0 || wanted.Contains("all")) wanted = suites.Select(s => s.Name).ToList();
        // Which kernel family ran (SPARKLE_ISA or the host's best), so that numbers from different runs compare.
        Console.WriteLine($"# quick isa={CpuIsas.Name(CpuKernelOptions.Default.Isa)} host={CpuIsas.Name(CpuIsa.Auto)} cores={Environment.ProcessorCount}");
        foreach (var name in wanted)
        {
            var s = suites.FirstOrDefault(x => x.Name == name);
            if (s is null) { Console.Error.WriteLine($"unknown quick suite '{name}'; known: {string.Join(", ", suites.Select(x => x.Name))}"); Environment.Exit(2); }
            s.Run(rest);
        }
    }

    /// <summary>Times <paramref name="action"/>: warm-up runs, then <paramref name="reps"/> samples; returns (median, min) in ms.</summary>
    public static (double MedianMs, double MinMs) Time(Action action, int reps = 7, int warmup = 2)
    {
        for (int i = 0; i < warmup; i++) action();
        var samples = new double[reps];
        for (int i = 0; i < reps; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            action();
            samples[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        }
        Array.Sort(samples);
        return (samples[reps / 2], samples[0]);
    }
}
