using System.Globalization;
using System.Text.RegularExpressions;
using Sparkle.Cli;
using Sparkle.Tests.Gpu;
using Sparkle.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace Sparkle.Tests.Cli;

/// <summary>`sparkle bench --device ilgpu-cpu` prints the per-step device counters after its step time (issue 15 item 6).
/// Shares the GPU tests' simulator (the CLI reuses a registered device).</summary>
[Collection(IlgpuCollection.Name)]
public partial class BenchCliTests(ITestOutputHelper log)
{
    [GeneratedRegex(@"^launches_per_step=(\d+) host_reads_per_step=(\d+) device_allocs_per_step=(\d+) device_peak_mb=(\d+)$", RegexOptions.Multiline)]
    private static partial Regex CounterLine();

    [GeneratedRegex(@"^bench_result model=(\S+) input=(\d+) batch=(\d+) small_stem=[01] dec_width=\d+ device=(\S+) tf32_env=\S+ step_ms=([\d.]+) min_ms=([\d.]+) img_s=([\d.]+) peak_mb=(\d+) launches_per_step=(\d+) loss=([\d.]+)$", RegexOptions.Multiline)]
    private static partial Regex ResultLine();

    /// <summary>The four numbers of the counter line in <paramref name="output"/>, which must also hold the step time.</summary>
    internal static long[] Counters(string output)
    {
        Assert.Contains("step median", output);
        var m = CounterLine().Match(output);
        Assert.True(m.Success, $"no counter line in:\n{output}");
        return [.. Enumerable.Range(1, 4).Select(i => long.Parse(m.Groups[i].Value, CultureInfo.InvariantCulture))];
    }

    [Fact]
    public void IlgpuCpuBenchPrintsTheCounterLine()
    {
        var output = new StringWriter();
        ToolCommands.Bench(["--device", "ilgpu-cpu", "--input-size", "8", "--batch-size", "2", "--reps", "2", "--threads", "1"], output,
            () => TinyEncoder.Spark());
        log.WriteLine(output.ToString());
        var c = Counters(output.ToString());
        Assert.InRange(c[0], 50, 20_000);            // launches: a SparK step is hundreds of kernels even on a tiny model
        Assert.Equal(1, c[1]);                       // host reads: the loss, nothing else
        Assert.InRange(c[2], 0, 1000);               // device allocations
        Assert.InRange(c[3], 0, 64);                 // peak MB: a few KB of tensors round to 0 or 1
        // The line for scripts repeats the step time and the counters, and adds images/s (batch / median step).
        var r = ResultLine().Match(output.ToString());
        Assert.True(r.Success, $"no bench_result line in:\n{output}");
        Assert.Equal("8", r.Groups[2].Value);
        Assert.Equal("2", r.Groups[3].Value);
        Assert.Equal("ilgpu-cpu:0", r.Groups[4].Value);
        double ms = double.Parse(r.Groups[5].Value, CultureInfo.InvariantCulture), imgs = double.Parse(r.Groups[7].Value, CultureInfo.InvariantCulture);
        Assert.True(ms > 0 && double.Parse(r.Groups[6].Value, CultureInfo.InvariantCulture) <= ms);
        Assert.InRange(imgs, 2000 / ms * 0.99 - 0.005, 2000 / ms * 1.01 + 0.005);   // printed with 2 decimals
        Assert.Equal(c[3], long.Parse(r.Groups[8].Value, CultureInfo.InvariantCulture));
        Assert.Equal(c[0], long.Parse(r.Groups[9].Value, CultureInfo.InvariantCulture));
    }

    /// <summary>The real thing: ResNet-18 (small stem) on the simulator. Slow (minutes), so not in CI.</summary>
    [Fact]
    [Trait("Category", "Slow")]
    public void IlgpuCpuBenchOfResNet18PrintsTheCounterLine()
    {
        var output = new StringWriter();
        Assert.Equal(0, Program.Run(["bench", "--device", "ilgpu-cpu", "--model", "resnet18", "--input-size", "16", "--batch-size", "2",
            "--dec-width", "16", "--reps", "1", "--threads", "1"], output, TextWriter.Null));
        log.WriteLine(output.ToString());
        var c = Counters(output.ToString());
        Assert.True(c[0] > 100, output.ToString());
        Assert.Equal(1, c[1]);
    }
}
