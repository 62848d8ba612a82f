using System.Globalization;
using System.Text.Json;
using Sparkle.Cli;
using Sparkle.Nn.Parallel;
using Sparkle.Nn.Serialization;
using Sparkle.Tests.Cli;
using Xunit;

namespace Sparkle.Tests.Distributed;

/// <summary>`mpiexec -n 2 sparkle pretrain --distributed` end to end: it runs to the end with one set of outputs written
/// by rank 0, a 2-rank run interrupted and resumed reproduces the uninterrupted one bit for bit (which needs every
/// rank's own mask stream restored), and a bad launch is said once. On a tiny ImageFolder in CI (12 images, global
/// batch 4 = 2 per rank, 3 iterations per epoch, 2 epochs), and on the embedded data with the default options as a
/// Slow test (docs/distributed.md).</summary>
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

    /// <summary>The embedded 3,000-image Fashion-MNIST subset (no --data) with the default options (resnet18 small
    /// stem, 32 px, global batch 32 = 16 per rank, 94 iterations per epoch, 2 epochs); every step logged.</summary>
    private static string[] Embedded(string output, params string[] more) =>
        ["pretrain", "--distributed", "--output", output, "--threads", "1", "--workers", "1", "--log-every", "1", .. more];

    private static List<JsonElement> Entries(string output, string type) =>
        RunLog.Read(Path.Combine(output, PretrainCommand.LogFile)).Where(e => e.GetProperty("type").GetString() == type).ToList();

    private static double[] StepLosses(string output) => Entries(output, "step").Select(e => e.GetProperty("loss").GetDouble()).ToArray();

    private static double[] EpochLosses(string output) => Entries(output, "epoch").Select(e => e.GetProperty("last_L").GetDouble()).ToArray();

    [Fact]
    public void TwoRanksRunToTheEndWriteOneSetOfOutputsAndResumeExactly()
    {
        using var tmp = new CliTemp();
        string data = tmp.ImageFolder();
        RunToTheEndThenResumeExactly(tmp, (output, more) => Tiny(data, output, more), new Schedule(2, 3, 2), [4], Limit);   // stop mid-epoch 2
    }

    /// <summary>The same on the embedded data, default options: stopped mid-epoch 1 (47), resumed and stopped past the
    /// epoch boundary (120, mid-epoch 2), resumed to the end. Command and wall time: docs/distributed.md.</summary>
    [Fact, Trait("Category", "Slow")]
    public void TwoRanksOnTheEmbeddedDataRunToTheEndWriteOneSetOfOutputsAndResumeExactly()
    {
        using var tmp = new CliTemp();
        RunToTheEndThenResumeExactly(tmp, Embedded, new Schedule(2, 94, 16), [47, 120], TimeSpan.FromMinutes(20));
    }

    /// <summary>What a run's options give: epochs, iterations per epoch, images per rank per step.</summary>
    private sealed record Schedule(int Epochs, int ItersPerEpoch, int LocalBatch);

    /// <summary>Runs <paramref name="args"/> (output folder, extra options) on 2 ranks to the end and checks its one set
    /// of outputs; then again, stopped with --stop-at at each of <paramref name="stops"/> and resumed on 2 ranks each
    /// time, to the end: the same loss at every step, the same epoch means and the same final checkpoints (every
    /// tensor, optimizer state included), bit for bit.</summary>
    private static void RunToTheEndThenResumeExactly(CliTemp tmp, Func<string, string[], string[]> args, Schedule schedule, long[] stops, TimeSpan limit)
    {
        string full = tmp.Dir("full");
        AssertOneSetOfOutputs(MpiLauncher.Run(2, MpiLauncher.Cli, args(full, []), limit), full, schedule);

        string split = tmp.Dir("split");
        string[] resume = [];
        foreach (long k in stops)
        {
            var part = MpiLauncher.Run(2, MpiLauncher.Cli, args(split, [.. resume, "--stop-at", k.ToString(CultureInfo.InvariantCulture)]), limit);
            Assert.True(part.ExitCode == 0, part.Output);
            Assert.True(Count(part.StdOut, $"interrupted at iteration {k}:") == 1, part.Output);
            resume = ["--resume", Path.Combine(split, WithDecoder)];
        }
        var last = MpiLauncher.Run(2, MpiLauncher.Cli, args(split, resume), limit);
        Assert.True(last.ExitCode == 0, last.Output);
        Assert.True(Count(last.StdOut, $"resumed from {resume[1]} at iteration {stops[^1]} ") == 1, last.Output);
        Assert.Equal(StepLosses(full), StepLosses(split));                           // bit for bit, across every resume
        Assert.Equal(EpochLosses(full), EpochLosses(split));
        foreach (var file in new[] { Encoder, WithDecoder })
        {
            var a = SafeTensors.Load(Path.Combine(full, file));
            var b = SafeTensors.Load(Path.Combine(split, file));
            Assert.Equal(a.Tensors.Keys.Order(StringComparer.Ordinal), b.Tensors.Keys.Order(StringComparer.Ordinal));
            foreach (var (name, t) in a.Tensors) Assert.True(t.ToDoubleArray().SequenceEqual(b.Tensors[name].ToDoubleArray()), $"{file}: {name} differs");
            foreach (var key in new[] { "iteration", "rng_offset" }.Where(a.Metadata.ContainsKey)) Assert.Equal(a.Metadata[key], b.Metadata[key]);
        }
    }

    /// <summary>An uninterrupted 2-rank run: exit 0; log, chart, a picture per epoch, both checkpoints and the summary,
    /// once; rank 0 alone printed; every step logged.</summary>
    private static void AssertOneSetOfOutputs(MpiLauncher.Result r, string output, Schedule s)
    {
        Assert.True(r.ExitCode == 0, r.Output);
        string[] expected = [PretrainCommand.LogFile, PretrainCommand.LossChart, .. Enumerable.Range(1, s.Epochs).Select(PretrainCommand.PictureFile),
                             Encoder, WithDecoder, SummaryCsv.FileName];
        Assert.Equal(expected.Order(StringComparer.Ordinal), Directory.GetFiles(output).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.True(Count(r.StdOut, "sparkle pretrain: resnet18") == 1, r.Output);   // rank 0 alone prints
        Assert.True(Count(r.StdOut, "done in ") == 1, r.Output);
        Assert.Contains("distributed: MPICH", r.StdOut);
        Assert.Contains($"; {s.LocalBatch} images per rank per step", r.StdOut);
        var log = RunLog.Read(Path.Combine(output, PretrainCommand.LogFile));
        Assert.Single(log, e => e.GetProperty("type").GetString() == "config");
        Assert.Equal(2, log[0].GetProperty("world_size").GetInt32());
        Assert.Equal(s.Epochs * s.ItersPerEpoch, StepLosses(output).Length);
        Assert.Equal(s.Epochs, EpochLosses(output).Length);
        Assert.Equal("done", log[^1].GetProperty("type").GetString());
        // Step lines carry the all-reduce's time and the part of it the backward did not hide (<= the whole).
        foreach (var step in log.Where(e => e.GetProperty("type").GetString() == "step"))
        {
            double all = step.GetProperty("allreduce_s").GetDouble(), exposed = step.GetProperty("allreduce_exposed_s").GetDouble();
            Assert.True(exposed >= 0 && exposed <= all, $"allreduce_exposed_s {exposed} vs allreduce_s {all}");
        }
        var meta = SafeTensors.ReadHeader(Path.Combine(output, WithDecoder)).Metadata;
        Assert.Equal((s.Epochs * s.ItersPerEpoch).ToString(CultureInfo.InvariantCulture), meta["iteration"]);
        Assert.Equal("2", meta["world_size"]);
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

    /// <summary>A launch check, like the batch's: every rank reads the checkpoint's world size before any collective,
    /// rank 0 says it once, every rank finalizes, exit 2 (no MPI_Abort), nothing written.</summary>
    [Fact]
    public void ResumingWithAnotherNumberOfRanksIsSaidOnceAndEndsTheJob()
    {
        using var tmp = new CliTemp();
        string data = tmp.ImageFolder(), two = tmp.Dir("two");
        var r = MpiLauncher.Run(2, MpiLauncher.Cli, Tiny(data, two, "--resume", OneProcessCheckpoint(tmp, data)), TimeSpan.FromSeconds(60));
        Assert.False(r.TimedOut, r.Output);
        Assert.True(r.ExitCode == 2, r.Output);
        Assert.True(Count(r.StdErr, "written by a run of 1 rank(s), this one has 2") == 1, r.Output);
        Assert.Contains("Resume it on 1 rank(s), without --distributed.", r.StdErr, StringComparison.Ordinal);
        Assert.DoesNotContain("MPI_Abort", r.Output, StringComparison.Ordinal);
        Assert.False(Directory.Exists(two), "the run folder was made: the check came after the launch");
    }

    /// <summary>The same check in one process, for a checkpoint of 2 ranks (no MPI needed).</summary>
    [Fact]
    public void OneProcessResumingATwoRankCheckpointIsSaidBeforeAnyWork()
    {
        using var tmp = new CliTemp();
        string data = tmp.ImageFolder(), two = tmp.Dir("two"), checkpoint = OneProcessCheckpoint(tmp, data);
        var file = SafeTensors.Load(checkpoint);
        SafeTensors.Save(checkpoint, file.Tensors, new Dictionary<string, string>(file.Metadata) { [DataParallel.WorldSizeKey] = "2" });
        var errors = new StringWriter();
        Assert.Equal(ExitCodes.Usage, Program.Run(Alone(Tiny(data, two, "--resume", checkpoint)), TextWriter.Null, errors));
        Assert.Contains($"sparkle pretrain: --resume {checkpoint}: written by a run of 2 rank(s), this one has 1", errors.ToString(), StringComparison.Ordinal);
        Assert.Contains("Resume it on 2 rank(s) (mpiexec -n 2).", errors.ToString(), StringComparison.Ordinal);
        Assert.False(Directory.Exists(two), "the run folder was made: the check came after the launch");
    }

    /// <summary>A distributed command line without --distributed: one process.</summary>
    private static string[] Alone(string[] args) => args.Where(a => a != "--distributed").ToArray();

    /// <summary>The with-decoder checkpoint of a one-process run stopped at iteration 1.</summary>
    private static string OneProcessCheckpoint(CliTemp tmp, string data)
    {
        string run = tmp.Dir("one");
        Assert.Equal(0, Program.Run(Alone(Tiny(data, run, "--stop-at", "1")), TextWriter.Null, TextWriter.Null));
        return Path.Combine(run, WithDecoder);
    }

    private static int Count(string text, string what)
    {
        int n = 0;
        for (int i = text.IndexOf(what, StringComparison.Ordinal); i >= 0; i = text.IndexOf(what, i + 1, StringComparison.Ordinal)) n++;
        return n;
    }
}
