using Sparkle.Autograd;
using Sparkle.Cli;
using Sparkle.Models;
using Sparkle.Models.Spark;
using Sparkle.Nn.Serialization;
using Sparkle.Tensors;
using Xunit;

namespace Sparkle.Tests.Cli;

/// <summary>--init-weight with state dicts as torchvision/timm save them (safetensors.torch.save_file(model.state_dict())):
/// our exported encoder layout plus a classifier head fc.*, with and without DDP's "module.", num_batches_tracked of shape ()
/// or (1), the standard 7x7 stem; and the messages for a file of another stem or another model.</summary>
[Collection(CliCollection.Name)]
public class InitWeightCliTests
{
    /// <summary>A standard-stem ResNet written as torchvision writes it: the encoder through the export path
    /// (<see cref="SparkCheckpoint.SaveEncoder"/>), every tensor random (BN statistics and counters too, so nothing passes
    /// by matching a default), plus a 1000-class fc. Returns the file and the encoder values it holds, by our keys.</summary>
    internal static (string Path, Dictionary<string, Tensor> Encoder) TorchvisionFile(CliTemp tmp, string model, bool ddp, bool scalarsOfShape1, ulong seed = 3)
    {
        var backbone = Backbones.Create(model, new ModelOptions { Initialize = false }, smallStem: false);
        var g = new Generator(seed);
        using (GradMode.NoGrad())
        foreach (var (k, t) in backbone.StateDict())
        {
            if (t.DType == DType.Int64) t.Copy_(Tensor.Full([], 7, DType.Int64));
            else t.Copy_(k.EndsWith(".running_var", StringComparison.Ordinal) ? Tensor.Rand(t.ShapeArray(), g) + 0.5 : Tensor.Randn(t.ShapeArray(), g));
        }
        string exported = tmp.Dir($"{model}-export.safetensors");
        SparkCheckpoint.SaveEncoder(exported, new SparkModel((IHierarchicalEncoder)backbone, 64, decoderWidth: 32, initialize: false));
        var encoder = SafeTensors.Load(exported).Tensors.ToDictionary(kv => kv.Key, kv => kv.Value);
        int features = ((IHierarchicalEncoder)backbone).FeatureMapChannels[^1];
        var saved = new Dictionary<string, Tensor>(encoder)
        {
            ["fc.weight"] = Tensor.Randn([1000, features], g), ["fc.bias"] = Tensor.Randn([1000], g),
        };
        if (scalarsOfShape1)
            foreach (var k in saved.Keys.Where(k => k.EndsWith(".num_batches_tracked", StringComparison.Ordinal)).ToList())
                saved[k] = Tensor.FromArray(new[] { 7L }, [1]);
        if (ddp) saved = saved.ToDictionary(kv => "module." + kv.Key, kv => kv.Value);
        string path = tmp.Dir($"{model}{(ddp ? "-ddp" : "")}{(scalarsOfShape1 ? "-s1" : "")}.safetensors");
        SafeTensors.Save(path, saved);
        return (path, encoder);
    }

    private static void AssertValues(Dictionary<string, Tensor> expected, IReadOnlyDictionary<string, Tensor> actual, string prefix = "")
    {
        Assert.Equal(expected.Count, actual.Count(kv => kv.Key.StartsWith(prefix, StringComparison.Ordinal)));
        foreach (var (k, v) in expected)
        {
            var got = actual[prefix + k];
            Assert.Equal(v.ShapeArray(), got.ShapeArray());             // (1)-shaped counters load as 0-d
            Assert.True(v.ToDoubleArray().SequenceEqual(got.ToDoubleArray()), $"{k} differs from the file");
        }
    }

    private static string[] Tiny(string data, string output, params string[] more) =>
    [
        "--data", data, "--output", output, "--input-size", "64", "--batch-size", "4", "--workers", "1", .. more,
    ];

    [Fact]
    public void PretrainStartsFromATorchvisionResNet18WithItsStemAndWithoutItsHead()
    {
        using var tmp = new CliTemp();
        string data = tmp.ImageFolder();
        foreach (var (ddp, s1) in new[] { (false, false), (true, true) })
        {
            var (file, encoder) = TorchvisionFile(tmp, "resnet18", ddp, s1);
            string run = tmp.Dir($"pre-{ddp}");
            var console = new StringWriter();
            // --stop-at 0: the checkpoint holds the weights as loaded, before any step.
            var result = PretrainCommand.Run(PretrainArgs.Parse([.. Tiny(data, run, "--init-weight", file, "--stop-at", "0", "--epochs", "1",
                "--dec-width", "32", "--vis-images", "2")]), console);
            string text = console.ToString();
            Assert.True(result.Interrupted, text);
            Assert.Contains("ignored the classifier head (2 tensors, not part of an encoder): fc.weight (1000, 512), fc.bias (1000)", text);
            Assert.Equal(ddp, text.Contains("removed the DDP prefix 'module.' from 122 keys", StringComparison.Ordinal));
            Assert.Contains("resnet18 64px", text);                          // the file's 7x7 stem, not the small one 64 px would pick
            var saved = SafeTensors.Load(Path.Combine(run, "resnet18_withdecoder_1kpretrained_spark_style.safetensors")).Tensors;
            AssertValues(encoder, saved, "sparse_encoder.sp_cnn.");
        }
    }

    [Fact]
    public void FinetuneAndLinearProbeStartFromATorchvisionResNet18()
    {
        using var tmp = new CliTemp();
        string data = tmp.ImageFolder();
        var (file, encoder) = TorchvisionFile(tmp, "resnet18", ddp: true, scalarsOfShape1: false);
        var console = new StringWriter();
        int rc = Program.Run(["finetune", .. Tiny(data, tmp.Dir("ft"), "--init-weight", file, "--epochs", "1", "--warmup-epochs", "0", "--labels", "0")],
            console, console);
        Assert.True(rc == 0, console.ToString());
        Assert.Contains("ignored the classifier head (2 tensors, not part of an encoder): fc.weight (1000, 512), fc.bias (1000)", console.ToString());
        Assert.Contains("removed the DDP prefix 'module.'", console.ToString());
        Assert.Contains("resnet18 64px from", console.ToString());

        // A linear probe trains the head alone: the written classifier's backbone is the file's encoder, value for value.
        string lp = tmp.Dir("lp");
        Assert.Equal(0, Program.Run(["linear-probe", .. Tiny(data, lp, "--init-weight", file, "--epochs", "1", "--warmup-epochs", "0", "--labels", "0", "--quiet")],
            TextWriter.Null, TextWriter.Null));
        AssertValues(encoder, SafeTensors.Load(Path.Combine(lp, FinetuneCommand.ClassifierFile)).Tensors, "backbone.");
    }

    [Fact]
    public void PretrainAndFinetuneLoadATorchvisionResNet50()
    {
        using var tmp = new CliTemp();
        var (file, encoder) = TorchvisionFile(tmp, "resnet50", ddp: true, scalarsOfShape1: true);
        var notes = new List<string>();

        var p = PretrainArgs.Parse(["--model", "resnet50", "--input-size", "64", "--dec-width", "32", "--init-weight", file]);
        Assert.False(p.UseSmallStem);                                        // taken from conv1.weight (64, 3, 7, 7)
        var spark = p.CreateSpark();
        PretrainCommand.LoadInitWeight(file, spark, p.Model, notes.Add);
        AssertValues(encoder, spark.Encoder.StateDict());

        var f = FinetuneArgs.Parse(["--model", "resnet50", "--input-size", "64", "--init-weight", file], linearProbe: false);
        Assert.False(f.UseSmallStem);
        var classifier = new Sparkle.Models.Training.Classifier(f.CreateBackbone(0, 1, initialize: false), 10);
        FinetuneCommand.LoadEncoder(file, classifier, f.Model, notes.Add);
        AssertValues(encoder, classifier.Backbone.StateDict());
        Assert.All(notes.Where(n => n.Contains("head", StringComparison.Ordinal)), n => Assert.EndsWith("fc.weight (1000, 2048), fc.bias (1000)", n));
        Assert.Equal(2, notes.Count(n => n.Contains("ignored the classifier head", StringComparison.Ordinal)));
        Assert.Equal(2, notes.Count(n => n.Contains("removed the DDP prefix 'module.' from 320 keys", StringComparison.Ordinal)));
    }

    [Fact]
    public void AFileOfAnotherStemOrModelFailsWithTheFlagToPass()
    {
        using var tmp = new CliTemp();
        string data = tmp.ImageFolder();
        var (r18, _) = TorchvisionFile(tmp, "resnet18", ddp: false, scalarsOfShape1: false);
        foreach (var command in new[] { "pretrain", "finetune" })
        {
            // The 7x7 stem against an explicit --small-stem true: exit 2 with the flag to pass.
            var err = new StringWriter();
            Assert.Equal(2, Program.Run([command, .. Tiny(data, tmp.Dir($"{command}-stem"), "--init-weight", r18, "--small-stem", "true", "--quiet")], TextWriter.Null, err));
            Assert.Contains($"{command}: --init-weight {r18} has the standard 7x7 stride-2 stem (conv1.weight), --small-stem true asks for the other one: " +
                            "pass --small-stem false or leave it out.", err.ToString());
            Assert.DoesNotContain("   at ", err.ToString());

            // The standard stem's total stride is 32: 48 px does not divide.
            err = new StringWriter();
            Assert.Equal(2, Program.Run([command, "--data", data, "--input-size", "48", "--init-weight", r18, "--output", tmp.Dir($"{command}-48"), "--quiet"], TextWriter.Null, err));
            Assert.Contains("stem (total stride 32), so --input-size must be a multiple of 32, got 48.", err.ToString());

            // A resnet18 file for --model resnet50: exit 1, the keys and shapes, the cause, the flag.
            err = new StringWriter();
            string[] decoder = command == "pretrain" ? ["--dec-width", "32"] : [];
            Assert.Equal(1, Program.Run([command, .. Tiny(data, tmp.Dir($"{command}-model"), "--init-weight", r18, "--model", "resnet50", "--quiet"), .. decoder],
                TextWriter.Null, err));
            string e = err.ToString();
            Assert.Contains($"--init-weight {r18} does not fit this --model resnet50: it holds resnet18 (BasicBlock blocks 2-2-2-2, width 64, 7x7 stem), " +
                            "the model is resnet50 (Bottleneck blocks 3-4-6-3, width 64, 7x7 stem); likely cause: the file is resnet18, the model resnet50; ", e);
            Assert.Contains("layer1.0.conv1.weight: expected (64, 64, 1, 1), saved (64, 64, 3, 3)", e);
            Assert.Contains("missing (", e);
            Assert.EndsWith("Pass --model resnet18.", e.TrimEnd());
            Assert.DoesNotContain("   at ", e);
            Assert.Single(e.TrimEnd().Split('\n'));                                // one line
        }
    }

    [Fact]
    public void FinetuneHelpListsTheStemFlag()
    {
        foreach (var command in new[] { "finetune", "linear-probe" })
        {
            var help = new StringWriter();
            Assert.Equal(0, Program.Run([command, "--help"], help, TextWriter.Null));
            Assert.Contains("--small-stem true|false", help.ToString());
        }
    }

    [Fact]
    public void APickleIsRefusedWithHowToConvertIt()
    {
        using var tmp = new CliTemp();
        string pth = tmp.Dir("resnet18.pth");
        File.WriteAllBytes(pth, [0x50, 0x4B, 0x03, 0x04, .. new byte[60]]);   // torch.save writes a zip archive
        var err = new StringWriter();
        Assert.Equal(1, Program.Run(["finetune", "--data", tmp.ImageFolder(), "--init-weight", pth, "--output", tmp.Dir("ft"), "--quiet"], TextWriter.Null, err));
        Assert.Contains($"--init-weight {pth}: ", err.ToString());
        Assert.Contains("st.save_file(", err.ToString());
    }
}
