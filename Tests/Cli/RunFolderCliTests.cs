using System.Globalization;
using System.Security.Cryptography;
using Sparkle.Cli;
using Xunit;

namespace Sparkle.Tests.Cli;

/// <summary>Run folders keep previous runs; Ctrl+C exits 130 after the checkpoint; stale temp files go; summary.csv and
/// the ETA's warm-up exclusion.</summary>
[Collection(CliCollection.Name)]
public class RunFolderCliTests
{
    /// <summary>16 px ResNet-18, 12 images, batch 4, 1 epoch: 3 iterations.</summary>
    private static string[] Tiny(string data, string output, params string[] more) =>
    [
        "pretrain", "--data", data, "--output", output, "--input-size", "16", "--batch-size", "4", "--epochs", "1", "--warmup-epochs", "0.2",
        "--dec-width", "16", "--workers", "0", "--vis-images", "1", "--log-every", "1", "--quiet", .. more,
    ];

    /// <summary>A console that "presses Ctrl+C" when a line containing <paramref name="trigger"/> is written.</summary>
    private sealed class CtrlCOnLine(string trigger, CancellationTokenSource cts) : StringWriter
    {
        public override void WriteLine(string? value)
        {
            base.WriteLine(value);
            if (value?.Contains(trigger, StringComparison.Ordinal) == true) cts.Cancel();
        }
    }

    /// <summary>Program.Run, asserting the exit code with stderr in the failure message.</summary>
    private static void Runs(int code, string[] argv, TextWriter? stdout = null, CancellationToken cancel = default)
    {
        var err = new StringWriter();
        int rc = Program.Run(argv, stdout ?? TextWriter.Null, err, cancel);
        Assert.True(rc == code, $"exit {rc}, expected {code}: {err}");
    }

    private static Dictionary<string, string> Snapshot(string dir) => Directory.GetFiles(dir).ToDictionary(
        f => Path.GetFileName(f), f => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(f))) + File.GetLastWriteTimeUtc(f).Ticks);

    [Fact]
    public void ReRunningAFinishedRunNeverLosesItsFiles()
    {
        using var tmp = new CliTemp();
        string data = tmp.ImageFolder(perClass: 6), run = tmp.Dir("run");
        Runs(0, Tiny(data, run));
        var first = Snapshot(run);
        // summary.csv: a row per epoch with the log's epoch loss.
        var rows = SummaryCsv.Read(Path.Combine(run, SummaryCsv.FileName));
        Assert.Equal(["epoch", "train_loss", "lr", "epoch_s"], rows[0]);
        var epoch = Assert.Single(RunLog.Read(Path.Combine(run, "log.jsonl")), e => e.GetProperty("type").GetString() == "epoch");
        Assert.Equal("1", Assert.Single(rows.Skip(1))[0]);
        Assert.Equal(epoch.GetProperty("last_L").GetDouble(), double.Parse(rows[1][1], CultureInfo.InvariantCulture));
        Assert.True(double.Parse(rows[1][3], CultureInfo.InvariantCulture) > 0);
        Assert.Contains("resnet18_withdecoder_1kpretrained_spark_style.safetensors", first.Keys);

        // The same command again: refused before any work, the first run's files untouched.
        var err = new StringWriter();
        Assert.Equal(2, Program.Run(Tiny(data, run), TextWriter.Null, err));
        Assert.Contains($"--output {run} already holds a run", err.ToString());
        Assert.Contains($"--resume {Path.Combine(run, "resnet18_withdecoder_1kpretrained_spark_style.safetensors")}", err.ToString());
        Assert.Equal(first, Snapshot(run));

        // finetune and linear-probe into it: refused too.
        foreach (var cmd in new[] { "finetune", "linear-probe" })
        {
            err.GetStringBuilder().Clear();
            Assert.Equal(2, Program.Run([cmd, "--data", data, "--input-size", "16", "--output", run, "--quiet"], TextWriter.Null, err));
            Assert.Contains("already holds a run", err.ToString());
            Assert.Contains("--overwrite", err.ToString());
        }
        Assert.Equal(first, Snapshot(run));

        // --overwrite replaces sparkle's files and leaves any other file alone.
        File.WriteAllText(Path.Combine(run, "notes.txt"), "mine");
        File.WriteAllText(Path.Combine(run, "reconstruction-ep009.png"), "a stale picture of a longer run");
        Runs(0, Tiny(data, run, "--overwrite"));
        Assert.Equal("mine", File.ReadAllText(Path.Combine(run, "notes.txt")));
        Assert.False(File.Exists(Path.Combine(run, "reconstruction-ep009.png")));
        Assert.Single(RunLog.Read(Path.Combine(run, "log.jsonl")), e => e.GetProperty("type").GetString() == "config");
    }

    [Fact]
    public void CtrlCExits130AfterTheCheckpointAndAResumeRemovesStaleTempFiles()
    {
        using var tmp = new CliTemp();
        string data = tmp.ImageFolder(perClass: 6), run = tmp.Dir("run");
        using var ctrlC = new CancellationTokenSource();
        var console = new CtrlCOnLine("step 1/3", ctrlC);          // Ctrl+C during step 1: stop before step 2
        Runs(ExitCodes.Interrupted, [.. Tiny(data, run).Where(a => a != "--quiet")], console, ctrlC.Token);
        Assert.Contains("interrupted at iteration 1", console.ToString());
        string checkpoint = Path.Combine(run, "resnet18_withdecoder_1kpretrained_spark_style.safetensors");
        Assert.True(File.Exists(checkpoint));
        var log = RunLog.Read(Path.Combine(run, "log.jsonl"));
        Assert.Equal("interrupted", log[^1].GetProperty("type").GetString());
        Assert.Equal("ctrl+c", log[^1].GetProperty("by").GetString());

        // A second Ctrl+C during a checkpoint write leaves its temp file; the next run there removes it (others stay).
        string stale = Path.Combine(run, $".{Path.GetFileName(checkpoint)}.{Guid.NewGuid():N}.tmp");
        string stalePicture = Path.Combine(run, "reconstruction-ep001.png.tmp");
        string other = Path.Combine(run, "mine.tmp");
        foreach (var f in new[] { stale, stalePicture, other }) File.WriteAllText(f, "cut short");
        var resumed = new StringWriter();
        Runs(0, [.. Tiny(data, run, "--resume", checkpoint).Where(a => a != "--quiet")], resumed);
        Assert.False(File.Exists(stale), resumed.ToString());
        Assert.False(File.Exists(stalePicture));
        Assert.True(File.Exists(other));
        Assert.Contains("removed 2 temp file(s)", resumed.ToString());

        // finetune: stops at the next step, exit 130, no classifier.
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        string ft = tmp.Dir("ft");
        Runs(ExitCodes.Interrupted, ["finetune", "--data", data, "--input-size", "16", "--batch-size", "4", "--workers", "0", "--output", ft, "--quiet"],
            cancel: cancelled.Token);
        Assert.False(File.Exists(Path.Combine(ft, FinetuneCommand.ClassifierFile)));
        Assert.Equal("interrupted", RunLog.Read(Path.Combine(ft, "log.jsonl"))[^1].GetProperty("type").GetString());
    }

    [Fact]
    public void LinearProbeSummaryCsvHasTheEvalAccuracy()
    {
        using var tmp = new CliTemp();
        string data = tmp.ImageFolder(perClass: 6);
        string lp = tmp.Dir("lp");
        Runs(0, ["linear-probe", "--data", data, "--input-size", "16", "--epochs", "3", "--batch-size", "4", "--workers", "0", "--output", lp, "--quiet"]);
        var lpRows = SummaryCsv.Read(Path.Combine(lp, SummaryCsv.FileName));
        Assert.Equal(["epoch", "train_loss", "lr", "epoch_s", "eval_top1"], lpRows[0]);
        var lpLog = RunLog.Read(Path.Combine(lp, "log.jsonl")).Where(e => e.GetProperty("type").GetString() == "epoch").ToList();
        Assert.Equal(lpLog.Select(e => e.GetProperty("top1").GetDouble()), lpRows.Skip(1).Select(r => double.Parse(r[4], CultureInfo.InvariantCulture)));
        Assert.Equal(lpLog.Select(e => e.GetProperty("loss").GetDouble()), lpRows.Skip(1).Select(r => double.Parse(r[1], CultureInfo.InvariantCulture)));
        Assert.Equal(["1", "2", "3"], lpRows.Skip(1).Select(r => r[0]));
    }

    [Fact]
    public void TheEtaLeavesOutTheWarmUpStepsAndFollowsRecentSteps()
    {
        double now = 0;
        var clock = new StepClock(() => now);
        now = 3.0; clock.Step();                                  // step 1: JIT and first batches, 3 s
        Assert.Null(clock.Eta(10));
        now = 4.0; clock.Step();                                  // step 2: 1 s
        Assert.Null(clock.Eta(10));
        for (int i = 0; i < 4; i++) { now += 0.5; clock.Step(); } // steady: 0.5 s per step
        Assert.Equal(5.0, clock.Eta(10)!.Value, 12);
        for (int i = 0; i < StepClock.Window; i++) { now += 0.25; clock.Step(); }
        Assert.Equal(2.5, clock.Eta(10)!.Value, 9);               // the window moved on
    }
}
