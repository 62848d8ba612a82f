using Sparkle.Cli;
using Sparkle.Data;
using Sparkle.Models.Training;
using Sparkle.Nn.Parallel;
using Sparkle.Nn.Serialization;
using Sparkle.Tests.Cli;
using Xunit;

namespace Sparkle.Tests.Distributed;

/// <summary>`mpiexec -n 2 sparkle finetune|linear-probe --distributed` end to end on a tiny ImageFolder (20 images:
/// 16 train, every 5th = 4 held out for testing; global batch 4 = 2 per rank): it runs to the end with one set of
/// outputs written by rank 0, and the accuracy it reports is the global one: every test image counted once (the
/// ranks' chunks all-reduced), equal to what one process computes with the written classifier on the whole test set.</summary>
[Collection("Distributed")]
public class DistributedFinetuneCliTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(240);

    private static string[] Tiny(string cmd, string data, string output) =>
    [
        cmd, "--distributed", "--data", data, "--output", output, "--input-size", "16", "--batch-size", "4", "--epochs", cmd == "finetune" ? "2" : "3",
        "--warmup-epochs", "0.5", "--labels", "0", "--workers", "1", "--log-every", "1", "--seed", "3",
    ];

    [Theory]
    [InlineData("finetune")]
    [InlineData("linear-probe")]
    public void TwoRanksRunToTheEndWriteOneSetOfOutputsAndReportTheGlobalAccuracy(string cmd)
    {
        using var tmp = new CliTemp();
        string data = tmp.ImageFolder(perClass: 10), output = tmp.Dir("run");
        var args = Tiny(cmd, data, output);
        var r = MpiLauncher.Run(2, MpiLauncher.Cli, args, Limit);
        Assert.True(r.ExitCode == 0, r.Output);
        Assert.Equal([FinetuneCommand.ClassifierFile, "log.jsonl", SummaryCsv.FileName], Directory.GetFiles(output).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Equal(1, Count(r.StdOut, $"sparkle {cmd}: resnet18"));            // rank 0 alone prints
        Assert.Equal(1, Count(r.StdOut, $"{cmd} done in"));
        Assert.Contains("distributed: MPICH", r.StdOut);
        var log = RunLog.Read(Path.Combine(output, "log.jsonl"));
        Assert.Equal(1, log.Count(e => e.GetProperty("type").GetString() == "config"));
        Assert.Equal(2, log[0].GetProperty("world_size").GetInt32());
        var epochs = log.Where(e => e.GetProperty("type").GetString() == "epoch").ToList();
        Assert.Equal(cmd == "finetune" ? 2 : 3, epochs.Count);
        Assert.All(epochs, e => Assert.Equal(4, e.GetProperty("evaluated").GetInt64()));   // both ranks' chunks, once each
        double reported = log[^1].GetProperty("top1").GetDouble();
        Assert.Equal("done", log[^1].GetProperty("type").GetString());

        // One process, the written classifier, the whole test set: the same accuracy.
        var o = FinetuneArgs.Parse(args.Skip(1).Where(a => a != "--distributed").ToArray(), cmd == "linear-probe");
        var (train, test) = FinetuneCommand.Splits(o, DataSources.Open(o.Data, _ => { }), _ => { });
        Assert.Equal(4, test.Count);
        var model = new Classifier(o.CreateBackbone(o.Dp, o.Seed), train.Classes.Count);
        model.LoadStateDict(SafeTensors.Load(Path.Combine(output, FinetuneCommand.ClassifierFile)).Tensors, strict: true);
        using var device = o.OpenDevice(cmd);
        var (correct, seen) = FinetuneCommand.Evaluate(model, test, EvalTransform.ForFineTune(o.InputSize), o, device);
        Assert.Equal(100.0 * correct / seen, reported, 9);
    }

    [Fact]
    public void AGlobalBatchNotDivisibleByTheRanksIsSaidOnceAndEndsTheJob()
    {
        using var tmp = new CliTemp();
        var args = Tiny("linear-probe", tmp.ImageFolder(), tmp.Dir("run"));
        args[Array.IndexOf(args, "--batch-size") + 1] = "5";
        var r = MpiLauncher.Run(2, MpiLauncher.Cli, args, TimeSpan.FromSeconds(60));
        Assert.False(r.TimedOut, r.Output);
        Assert.Equal(2, r.ExitCode);
        Assert.Equal(1, Count(r.StdErr, "linear-probe: --batch-size 5 (the global batch) is not divisible by the 2 ranks"));
    }

    [Fact]
    public void SyncBnWithoutDistributedIsAUsageError() =>
        Assert.Throws<UsageException>(() => FinetuneArgs.Parse(["--sync-bn"], linearProbe: false));

    private static int Count(string text, string what)
    {
        int n = 0;
        for (int i = text.IndexOf(what, StringComparison.Ordinal); i >= 0; i = text.IndexOf(what, i + 1, StringComparison.Ordinal)) n++;
        return n;
    }
}
