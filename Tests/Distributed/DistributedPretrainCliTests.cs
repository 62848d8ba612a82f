using Sparkle.Cli;
using Sparkle.Nn.Serialization;
using Sparkle.Tests.Cli;
using Xunit;

namespace Sparkle.Tests.Distributed;

/// <summary>`mpiexec -n 2 sparkle pretrain --distributed` end to end on a tiny ImageFolder (12 images, global batch 4 =
/// 2 per rank, 3 iterations per epoch, 2 epochs): it runs to the end with one set of outputs written by rank 0, an
/// interrupted and resumed 2-rank run reproduces the uninterrupted one exactly, and a bad launch is said once.</summary>
[Collection("Distributed")]
public class DistributedPretrainCliTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(180);
    private const string WithDecoder = "resnet18_withdecoder_1kpretrained_spark_style.safetensors";
    private const string Encoder = "resnet18_1kpretrained_timm_style.safetensors";

    private static string[] Tiny(string data, string output, params string[] more) =>
    [
        "pretrain", "--distributed", "--data", data, "--output", output, "--input-size", "16", "--batch-size", "4", "--epochs", "2",
        "--warmup-epochs", "0.5", "--dec-width", "16", "--base-lr", "0.05", "--workers", "1", "--log-every", "1", "--vis-images", "3",
        "--seed", "3", .. more,
    ];

    private static double[] StepLosses(string output) => RunLog.Read(Path.Combine(output, "log.jsonl"))
        .Where(e => e.GetProperty("type").GetString() == "step").Select(e => e.GetProperty("loss").GetDouble()).ToArray();

    [Fact]
    public void TwoRanksRunToTheEndWriteOneSetOfOutputsAndResumeExactly()
    {
        using var tmp = new CliTemp();
        string data = tmp.ImageFolder(), full = tmp.Dir("full");
        var r = MpiLauncher.Run(2, MpiLauncher.Cli, Tiny(data, full), Limit);
        Assert.True(r.ExitCode == 0, r.Output);
        Assert.Equal(["log.jsonl", "loss.svg", "reconstruction-ep001.png", "reconstruction-ep002.png", Encoder, WithDecoder, SummaryCsv.FileName],
            Directory.GetFiles(full).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Equal(1, Count(r.StdOut, "sparkle pretrain: resnet18"));             // rank 0 alone prints
        Assert.Contains("distributed: MPICH", r.StdOut);
        Assert.Contains("2 per rank", r.StdOut.Replace("2 images per rank", "2 per rank", StringComparison.Ordinal));
        var log = RunLog.Read(Path.Combine(full, "log.jsonl"));
        Assert.Equal(1, log.Count(e => e.GetProperty("type").GetString() == "config"));
        Assert.Equal(2, log[0].GetProperty("world_size").GetInt32());
        Assert.Equal(6, StepLosses(full).Length);
        Assert.Equal("done", log[^1].GetProperty("type").GetString());
        var meta = SafeTensors.ReadHeader(Path.Combine(full, WithDecoder)).Metadata;
        Assert.Equal("6", meta["iteration"]);
        Assert.Equal("2", meta["world_size"]);

        string split = tmp.Dir("split");
        var first = MpiLauncher.Run(2, MpiLauncher.Cli, Tiny(data, split, "--stop-at", "4"), Limit);   // mid-epoch 2
        Assert.True(first.ExitCode == 0, first.Output);
        Assert.Equal(1, Count(first.StdOut, "interrupted at iteration 4"));
        var second = MpiLauncher.Run(2, MpiLauncher.Cli, Tiny(data, split, "--resume", Path.Combine(split, WithDecoder)), Limit);
        Assert.True(second.ExitCode == 0, second.Output);
        Assert.Equal(StepLosses(full), StepLosses(split));                           // bit for bit, across the resume
        var a = SafeTensors.Load(Path.Combine(full, Encoder)).Tensors;
        var b = SafeTensors.Load(Path.Combine(split, Encoder)).Tensors;
        foreach (var (k, v) in a) Assert.Equal(v.ToDoubleArray(), b[k].ToDoubleArray());
    }

    [Fact]
    public void AGlobalBatchNotDivisibleByTheRanksIsSaidOnceAndEndsTheJob()
    {
        using var tmp = new CliTemp();
        var args = Tiny(tmp.ImageFolder(), tmp.Dir("run"));
        args[Array.IndexOf(args, "--batch-size") + 1] = "5";
        var r = MpiLauncher.Run(2, MpiLauncher.Cli, args, TimeSpan.FromSeconds(60));
        Assert.False(r.TimedOut, r.Output);
        Assert.Equal(2, r.ExitCode);
        Assert.Equal(1, Count(r.StdErr, "--batch-size 5 (the global batch) is not divisible by the 2 ranks"));
    }

    [Fact]
    public void ResumingWithAnotherNumberOfRanksIsRefused()
    {
        using var tmp = new CliTemp();
        string data = tmp.ImageFolder(), run = tmp.Dir("run");
        var one = Program.Run(["pretrain", .. Tiny(data, run, "--stop-at", "1").Skip(1).Where(a => a != "--distributed")], TextWriter.Null, TextWriter.Null);
        Assert.Equal(0, one);
        var r = MpiLauncher.Run(2, MpiLauncher.Cli, Tiny(data, tmp.Dir("two"), "--resume", Path.Combine(run, WithDecoder)), Limit);
        Assert.False(r.TimedOut, r.Output);
        Assert.NotEqual(0, r.ExitCode);
        Assert.True(r.StdErr.Contains("written by a run of 1 rank(s), this one has 2", StringComparison.Ordinal), $"exit {r.ExitCode}: {r.Output}");
    }

    private static int Count(string text, string what)
    {
        int n = 0;
        for (int i = text.IndexOf(what, StringComparison.Ordinal); i >= 0; i = text.IndexOf(what, i + 1, StringComparison.Ordinal)) n++;
        return n;
    }
}
