using System.Text.Json;
using Sparkle.Cli;
using Sparkle.Nn.Serialization;
using Xunit;

namespace Sparkle.Tests.Cli;

/// <summary>`sparkle pretrain` at tiny size through the command's own code path: the run folder, exact resume, NaN stop.</summary>
[Collection(CliCollection.Name)]
public class PretrainCliTests
{
    /// <summary>16 px ResNet-18 (small stem, 2x2 mask grid), 12 images, batch 4: 3 iterations per epoch.</summary>
    private static string[] Tiny(string data, string output, params string[] more) =>
    [
        "--data", data, "--output", output, "--input-size", "16", "--batch-size", "4", "--epochs", "2", "--warmup-epochs", "0.5",
        "--dec-width", "16", "--base-lr", "0.05", "--workers", "1", "--log-every", "1", "--vis-images", "3", "--seed", "3", "--quiet", .. more,
    ];

    [Fact]
    public void TinyRunWritesTheWholeRunFolder()
    {
        using var tmp = new CliTemp();
        string data = tmp.ImageFolder(), output = tmp.Dir("run");
        var console = new StringWriter();
        Assert.Equal(0, Program.Run(["pretrain", .. Tiny(data, output)], console, console));
        foreach (var f in new[] { "log.jsonl", "loss.svg", "reconstruction-ep001.png", "reconstruction-ep002.png",
                     "resnet18_withdecoder_1kpretrained_spark_style.safetensors", "resnet18_1kpretrained_timm_style.safetensors" })
            Assert.True(File.Exists(Path.Combine(output, f)), $"{f} missing; output:\n{console}");
        Assert.Empty(Directory.GetFiles(output, "*.tmp"));

        var log = RunLog.Read(Path.Combine(output, "log.jsonl"));
        Assert.Equal("config", log[0].GetProperty("type").GetString());
        Assert.Equal("resnet18", log[0].GetProperty("model").GetString());
        Assert.Equal(6, log.Count(e => e.GetProperty("type").GetString() == "step"));
        var epochs = log.Where(e => e.GetProperty("type").GetString() == "epoch").ToList();
        Assert.Equal(["1/2", "2/2"], epochs.Select(e => e.GetProperty("cur_ep").GetString()));
        Assert.Equal("done", log[^1].GetProperty("type").GetString());
        Assert.StartsWith("<svg", File.ReadAllText(Path.Combine(output, "loss.svg")).TrimStart()[..4]);

        var encoder = SafeTensors.Load(Path.Combine(output, "resnet18_1kpretrained_timm_style.safetensors"));
        Assert.Contains("conv1.weight", encoder.Tensors.Keys);
        Assert.DoesNotContain(encoder.Tensors.Keys, k => k.StartsWith("fc.", StringComparison.Ordinal));
        var meta = SafeTensors.ReadHeader(Path.Combine(output, "resnet18_withdecoder_1kpretrained_spark_style.safetensors")).Metadata;
        Assert.Equal("6", meta["iteration"]);
        Assert.Equal("true", meta["is_pretrain"]);
    }

    [Fact]
    public void InterruptedAndResumedRunGivesTheSameLosses()
    {
        using var tmp = new CliTemp();
        string data = tmp.ImageFolder();
        var full = PretrainCommand.Run(PretrainArgs.Parse(Tiny(data, tmp.Dir("full"))), TextWriter.Null);
        Assert.True(full.Completed);
        Assert.Equal(6, full.StepLosses.Count);

        string output = tmp.Dir("split");
        var first = PretrainCommand.Run(PretrainArgs.Parse(Tiny(data, output, "--stop-at", "4")), TextWriter.Null);   // mid-epoch 2
        Assert.True(first.Interrupted);
        Assert.Equal(4, first.StepLosses.Count);
        string checkpoint = Path.Combine(output, "resnet18_withdecoder_1kpretrained_spark_style.safetensors");
        var second = PretrainCommand.Run(PretrainArgs.Parse(Tiny(data, output, "--resume", checkpoint)), TextWriter.Null);
        Assert.True(second.Completed);
        Assert.Equal(4, second.StartIteration);
        Assert.Equal(full.StepLosses, first.StepLosses.Concat(second.StepLosses));          // bit for bit

        // The log continues across the resume; the final encoders are identical.
        var a = SafeTensors.Load(Path.Combine(tmp.Dir("full"), "resnet18_1kpretrained_timm_style.safetensors")).Tensors;
        var b = SafeTensors.Load(Path.Combine(output, "resnet18_1kpretrained_timm_style.safetensors")).Tensors;
        foreach (var (k, v) in a) Assert.Equal(v.ToDoubleArray(), b[k].ToDoubleArray());
        var log = RunLog.Read(Path.Combine(output, "log.jsonl"));
        var fullLog = RunLog.Read(Path.Combine(tmp.Dir("full"), "log.jsonl"));
        static double[] EpochLosses(List<JsonElement> l) =>
            l.Where(e => e.GetProperty("type").GetString() == "epoch").Select(e => e.GetProperty("last_L").GetDouble()).ToArray();
        Assert.Equal(EpochLosses(fullLog), EpochLosses(log));                          // epoch 2's mean spans the resume
        Assert.Equal(2, log.Count(e => e.GetProperty("type").GetString() == "config"));
        Assert.Contains(log, e => e.GetProperty("type").GetString() == "interrupted");
    }

    /// <summary>Run under a comma-decimal culture (de-DE): the files it writes hold invariant numbers
    /// (<see cref="InvariantFilesCliTests.CheckInvariantNumbers"/>).</summary>
    [Fact]
    public void ANonFiniteLossStopsTheRunAndKeepsTheLastCheckpoint()
    {
        using var tmp = new CliTemp();
        string data = tmp.ImageFolder(), output = tmp.Dir("run");
        var console = new StringWriter();
        int rc;
        using (Support.CommaCulture.Use()) rc = Program.Run(["pretrain", .. Tiny(data, output, "--nan-at", "4")], console, console);
        Assert.Equal(PretrainResult.ExitNonFinite, rc);
        Assert.Contains("iteration 4", console.ToString());
        Assert.Contains("Last good checkpoint", console.ToString());
        string checkpoint = Path.Combine(output, "resnet18_withdecoder_1kpretrained_spark_style.safetensors");
        Assert.Equal("3", SafeTensors.ReadHeader(checkpoint).Metadata["iteration"]);          // written at the end of epoch 1
        var log = RunLog.Read(Path.Combine(output, "log.jsonl"));
        Assert.Equal("non_finite_loss", log[^1].GetProperty("type").GetString());
        Assert.Equal(4, log[^1].GetProperty("iteration").GetInt64());
        Assert.False(File.Exists(Path.Combine(output, "reconstruction-ep002.png")));
        InvariantFilesCliTests.CheckInvariantNumbers(output);
    }
}
