using Sparkle.Cli;
using Xunit;

namespace Sparkle.Tests.Cli;

/// <summary>Argument parsing: the documented defaults, SparK's names and aliases, and clear errors.</summary>
[Collection(CliCollection.Name)]
public class CliArgsTests
{
    [Fact]
    public void PretrainDefaultsAreTheSmallBuiltInRun()
    {
        var o = PretrainArgs.Parse([]);
        Assert.Equal("resnet18", o.Model);
        Assert.Equal(32, o.InputSize);
        Assert.True(o.UseSmallStem);
        Assert.Equal(8, o.DownsampleRatio);
        Assert.Equal(0.6, o.Mask);
        Assert.Equal(32, o.BatchSize);
        Assert.Equal(o.BaseLr * 32 / 256, o.PeakLr, 15);
        Assert.Equal(4e-3, o.PeakLr, 15);
        Assert.Equal(2, o.Epochs);
        Assert.Equal(0.2, o.WarmupEpochs);
        Assert.Equal(128, o.DecWidth);
        Assert.Equal(0.04, o.Wd);
        Assert.Equal(0.2, o.Wde);
        Assert.Equal("lamb", o.Opt);
        Assert.Equal(0.95, o.Beta2);
        Assert.Equal(5, o.Clip);
        Assert.Equal(0, o.DropPath);                       // resnet18: no drop path (SPARK.md §4.1)
        Assert.Equal(1UL, o.Seed);
        Assert.Equal("cpu", o.Device);
        Assert.Null(o.Data);                                // the embedded Fashion-MNIST subset
        Assert.Null(o.Resume);
        Assert.Equal(Environment.ProcessorCount, o.Threads);
        Assert.Equal(Path.Combine("runs", "pretrain"), o.Output);
    }

    [Fact]
    public void SparkNamesAliasesAndEqualsSyntaxParse()
    {
        var o = PretrainArgs.Parse(["--model=resnet50", "--input-size", "224", "--bs", "128", "--base-lr", "2e-4", "--ep", "3",
            "--wp_ep", "1", "--opt", "adamw", "--dp", "0.1", "--seed", "5", "--threads", "1", "--data", "fashion-mnist", "--quiet"]);
        Assert.Equal("resnet50", o.Model);
        Assert.False(o.UseSmallStem);
        Assert.Equal(32, o.DownsampleRatio);
        Assert.Equal(128, o.BatchSize);
        Assert.Equal(1e-4, o.PeakLr, 15);                  // lr = base_lr · batch / 256
        Assert.Equal(3, o.Epochs);
        Assert.Equal(1, o.WarmupEpochs);
        Assert.Equal("adamw", o.Opt);
        Assert.Equal(0.1, o.DropPath);
        Assert.Equal(5UL, o.Seed);
        Assert.True(o.Quiet);
        Assert.Equal(0.05, PretrainArgs.Parse(["--model", "resnet50", "--input-size", "224"]).DropPath);
        Assert.Equal(0.999, PretrainArgs.Parse(["--model", "convnext_tiny", "--input-size", "224"]).Beta2);
    }

    [Theory]
    [InlineData(new[] { "--bogus", "1" }, "unknown option --bogus")]
    [InlineData(new[] { "--epochs" }, "--epochs needs a value")]
    [InlineData(new[] { "--epochs", "two" }, "--epochs expects an integer")]
    [InlineData(new[] { "--mask", "1.5" }, "--mask must lie in")]
    [InlineData(new[] { "--model", "vgg16" }, "unknown --model 'vgg16'")]
    [InlineData(new[] { "--input-size", "30" }, "multiple of resnet18's total stride 8")]
    [InlineData(new[] { "--opt", "adam" }, "--opt must be one of lamb, adamw, sgd")]
    [InlineData(new[] { "--device", "tpu" }, "unknown --device 'tpu'")]
    [InlineData(new[] { "--seed", "1", "--seed", "2" }, "--seed given twice")]
    [InlineData(new[] { "extra" }, "unexpected argument 'extra'")]
    public void BadArgumentsGiveClearErrors(string[] argv, string message)
    {
        var e = Assert.Throws<UsageException>(() => PretrainArgs.Parse(argv));
        Assert.Contains(message, e.Message);
        var err = new StringWriter();
        Assert.Equal(2, Program.Run(["pretrain", .. argv], new StringWriter(), err));
        Assert.Contains(message, err.ToString());
    }

    [Fact]
    public void FinetuneAndLinearProbeDefaults()
    {
        var f = FinetuneArgs.Parse([], linearProbe: false);
        Assert.False(f.LinearProbe);
        Assert.Equal(1000, f.Labels);
        Assert.Equal("adamw", f.Opt);
        Assert.Null(f.InitWeight);
        var p = FinetuneArgs.Parse(["--labels", "0", "--init-weight", "enc.safetensors"], linearProbe: true);
        Assert.True(p.LinearProbe);
        Assert.Equal(0, p.Labels);
        Assert.Equal("enc.safetensors", p.InitWeight);
        Assert.Equal(0, p.Wd);
    }

    [Fact]
    public void UsageHelpAndUnknownCommand()
    {
        var output = new StringWriter();
        Assert.Equal(0, Program.Run(["--help"], output, new StringWriter()));
        foreach (var c in new[] { "pretrain", "finetune", "linear-probe", "reconstruct", "export", "info", "bench" }) Assert.Contains(c, output.ToString());
        var help = new StringWriter();
        Assert.Equal(0, Program.Run(["pretrain", "--help"], help, new StringWriter()));
        Assert.Contains("--base-lr", help.ToString());
        var err = new StringWriter();
        Assert.Equal(2, Program.Run(["train"], new StringWriter(), err));
        Assert.Contains("unknown command 'train'", err.ToString());
    }

    [FactWithoutFashionMnist]
    public void MissingFashionMnistIsAClearMessage()
    {
        var err = new StringWriter();
        int rc = Program.Run(["pretrain", "--data", "fashion-mnist", "--quiet"], new StringWriter(), err);
        Assert.Equal(1, rc);
        Assert.Contains("apt-get install dataset-fashion-mnist", err.ToString());
    }
}
