using Sparkle.Cli;
using Sparkle.Nn.Serialization;
using Xunit;

namespace Sparkle.Tests.Cli;

/// <summary>finetune / linear-probe tiny runs, export, reconstruct, info, bench.</summary>
[Collection(CliCollection.Name)]
public class ToolsCliTests
{
    private static string[] TinyPretrain(string data, string output) =>
    [
        "pretrain", "--data", data, "--output", output, "--input-size", "16", "--batch-size", "4", "--epochs", "1", "--warmup-epochs", "0.2",
        "--dec-width", "16", "--workers", "1", "--vis-images", "2", "--quiet",
    ];

    [Fact]
    public void ExportReconstructAndFinetuneFromThePretrainedEncoder()
    {
        using var tmp = new CliTemp();
        string data = tmp.ImageFolder(), run = tmp.Dir("run");
        Assert.Equal(0, Program.Run(TinyPretrain(data, run), TextWriter.Null, TextWriter.Null));
        string checkpoint = Path.Combine(run, "resnet18_withdecoder_1kpretrained_spark_style.safetensors");

        string exported = tmp.Dir("exported.safetensors");
        var console = new StringWriter();
        Assert.Equal(0, Program.Run(["export", checkpoint, "--output", exported], console, console));
        var a = SafeTensors.Load(exported).Tensors;
        var b = SafeTensors.Load(Path.Combine(run, "resnet18_1kpretrained_timm_style.safetensors")).Tensors;
        Assert.Equal(b.Keys, a.Keys);
        Assert.Equal(120, a.Count);                                                  // resnet18: 20 convs + 20 BNs x 5
        foreach (var (k, v) in a) Assert.Equal(b[k].ToDoubleArray(), v.ToDoubleArray());

        string picture = tmp.Dir("rec.png");
        Assert.Equal(0, Program.Run(["reconstruct", checkpoint, "--images", "3", "--output", picture], console, console));
        Assert.True(new FileInfo(picture).Length > 100);

        string ft = tmp.Dir("ft");
        var result = FinetuneCommand.Run(FinetuneArgs.Parse(["--data", data, "--init-weight", exported, "--input-size", "16", "--labels", "0",
            "--epochs", "2", "--warmup-epochs", "0.5", "--batch-size", "4", "--workers", "1", "--output", ft, "--quiet"], linearProbe: false), TextWriter.Null);
        Assert.Equal(9, result.TrainImages);                                         // every 5th of 12 held out (0, 5, 10)
        Assert.Equal(3, result.TestImages);
        Assert.Equal(2, result.EpochTop1.Count);
        Assert.InRange(result.Top1, 0, 100);
        Assert.True(File.Exists(Path.Combine(ft, "classifier.safetensors")));
        Assert.True(File.Exists(Path.Combine(ft, "log.jsonl")));

        // A checkpoint of another model does not load silently.
        var err = new StringWriter();
        Assert.Equal(1, Program.Run(["finetune", "--data", data, "--init-weight", exported, "--model", "resnet34", "--input-size", "16", "--output", tmp.Dir("ft34"), "--quiet"], TextWriter.Null, err));
        Assert.Contains("does not fit", err.ToString());
    }

    [Fact]
    public void LinearProbeLearnsAnEasyProblemFromScratchFeatures()
    {
        using var tmp = new CliTemp();
        string data = tmp.ImageFolder(perClass: 10);
        var result = FinetuneCommand.Run(FinetuneArgs.Parse(["--data", data, "--input-size", "16", "--labels", "8", "--epochs", "20",
            "--batch-size", "4", "--base-lr", "1", "--workers", "1", "--output", tmp.Dir("lp"), "--quiet"], linearProbe: true), TextWriter.Null);
        Assert.Equal(8, result.TrainImages);                                         // label budget, 4 per class
        Assert.Equal(4, result.TestImages);
        Assert.Equal(100, result.Top1);                                              // dark vs light: separable even from random features
    }

    [Fact]
    public void InfoPrintsParameterCounts()
    {
        var output = new StringWriter();
        Assert.Equal(0, Program.Run(["info", "--model", "resnet50", "--input-size", "224"], output, TextWriter.Null));
        Assert.Contains("resnet50: 23,508,032 parameters, 318 state tensors", output.ToString());
        var shapes = new StringWriter();
        Assert.Equal(0, Program.Run(["info", "--shapes"], shapes, TextWriter.Null));
        Assert.Contains("conv1.weight (64, 3, 3, 3)", shapes.ToString());           // the small stem
    }

    [Fact]
    public void BenchRunsATimedStep()
    {
        var output = new StringWriter();
        Assert.Equal(0, Program.Run(["bench", "--input-size", "16", "--batch-size", "2", "--dec-width", "16", "--reps", "1"], output, TextWriter.Null));
        Assert.Contains("img/s", output.ToString());
        var c = BenchCliTests.Counters(output.ToString());
        Assert.Equal(0, c[0]);                       // the CPU launches nothing
        Assert.Equal(0, c[1]);                       // and reads no device
        Assert.True(c[3] > 0);                       // its peak is the process's resident set
    }
}
