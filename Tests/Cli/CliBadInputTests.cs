using System.Text.Json;
using Sparkle.Cli;
using Sparkle.Nn.Serialization;
using Sparkle.Tensors;
using Xunit;

namespace Sparkle.Tests.Cli;

/// <summary>
/// The CLI over a corpus of bad inputs made here (truncated, empty, 4-byte and garbage checkpoints; encoder-only and
/// wrong-key files; bad option values; options given to the wrong command): each ends with its documented exit code
/// and one line naming the file or option, never a stack trace; the up-front checks fail before the run folder exists.
/// </summary>
[Collection(CliCollection.Name)]
public class CliBadInputTests
{
    private const string WithDecoder = "resnet18_withdecoder_1kpretrained_spark_style.safetensors";

    /// <summary>The bad files, small and synthetic: a with-decoder-looking file (one SparK key of the wrong shape,
    /// pretrain's metadata), an encoder-only one, and the broken ones cut from a valid file.</summary>
    private sealed class Corpus : IDisposable
    {
        public readonly CliTemp Tmp = new();

        public Corpus()
        {
            var args = JsonSerializer.Serialize(PretrainArgs.Parse(["--input-size", "16", "--dec-width", "16"]));
            var meta = new Dictionary<string, string> { [PretrainCommand.ArgsKey] = args, ["arch"] = "resnet18" };
            SafeTensors.Save(Path("wrongkeys.safetensors"),
                new Dictionary<string, Tensor> { ["sparse_encoder.sp_cnn.conv1.weight"] = Tensor.Zeros([2, 2]), ["dense_decoder.x"] = Tensor.Zeros([1]) }, meta);
            SafeTensors.Save(Path("encoder.safetensors"), new Dictionary<string, Tensor> { ["conv1.weight"] = Tensor.Zeros([64, 3, 3, 3]) }, meta);
            SafeTensors.Save(Path("foreign.safetensors"), new Dictionary<string, Tensor> { ["features.0.weight"] = Tensor.Zeros([8, 3, 3, 3]) });
            var valid = File.ReadAllBytes(Path("wrongkeys.safetensors"));
            File.WriteAllBytes(Path("truncated.safetensors"), valid[..(valid.Length - 5)]);
            File.WriteAllBytes(Path("empty.safetensors"), []);
            File.WriteAllBytes(Path("four.safetensors"), valid[..4]);
            var garbage = new byte[3000];
            new Random(7).NextBytes(garbage);
            File.WriteAllBytes(Path("garbage.safetensors"), garbage);
        }

        public string Path(string name) => Tmp.Dir(name);

        public void Dispose() => Tmp.Dispose();
    }

    /// <summary>Runs the CLI in-process; asserts the exit code, one line on stderr holding every expected piece, no trace.
    /// Ctrl+C is already "pressed": a run that gets past a missing check stops at its first step (exit 130, fast).</summary>
    private static void Fails(int code, string[] argv, params string[] expected)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        using var ctrlC = new CancellationTokenSource();
        ctrlC.Cancel();
        int rc = Program.Run(argv, stdout, stderr, ctrlC.Token);
        string err = stderr.ToString().TrimEnd();
        string all = $"rc {rc}; stderr:\n{err}\nstdout:\n{stdout}";
        Assert.True(rc == code, $"expected exit {code}, got {all}");
        Assert.False(err.Contains('\n'), $"not one line: {all}");
        foreach (var e in expected) Assert.True(err.Contains(e, StringComparison.Ordinal), $"'{e}' missing: {all}");
        Assert.DoesNotContain("   at ", err + stdout);                                  // no stack trace
        Assert.DoesNotContain("Unhandled exception", err + stdout);
    }

    private static readonly string[] BrokenFiles = ["truncated", "empty", "four", "garbage"];

    private static readonly Dictionary<string, string> Reasons = new()
    {
        ["truncated"] = "the file is truncated",
        ["empty"] = "the file is empty",
        ["four"] = "the file is 4 bytes long",
        ["garbage"] = "not a safetensors file",
    };

    [Fact]
    public void BrokenCheckpointsFailUpFrontWithTheReason()
    {
        using var c = new Corpus();
        foreach (var name in BrokenFiles)
        {
            string file = c.Path(name + ".safetensors"), output = c.Path("run-" + name);
            Fails(1, ["pretrain", "--resume", file, "--output", output, "--quiet"], $"sparkle pretrain: --resume {file}: not a readable safetensors file", Reasons[name]);
            Fails(1, ["pretrain", "--init-weight", file, "--output", output, "--quiet"], $"--init-weight {file}: not a readable safetensors file", Reasons[name]);
            Fails(1, ["finetune", "--init-weight", file, "--output", output, "--quiet"], $"sparkle finetune: --init-weight {file}", Reasons[name]);
            Fails(1, ["linear-probe", "--init-weight", file, "--output", output, "--quiet"], $"sparkle linear-probe: --init-weight {file}", Reasons[name]);
            Fails(1, ["export", file], $"sparkle export: checkpoint {file}", Reasons[name]);
            Fails(1, ["reconstruct", file], $"sparkle reconstruct: checkpoint {file}", Reasons[name]);
            Assert.False(Directory.Exists(output), "the run folder was made before the input files were checked");
        }
    }

    [Fact]
    public void MissingFilesAreExitCode1()
    {
        using var c = new CliTemp();
        string missing = c.Dir("nope.safetensors");
        Fails(1, ["pretrain", "--resume", missing, "--output", c.Dir("a")], $"--resume {missing}: no such file");
        Fails(1, ["pretrain", "--init-weight", missing, "--output", c.Dir("a")], $"--init-weight {missing}: no such file");
        Fails(1, ["finetune", "--init-weight", missing, "--output", c.Dir("a")], $"--init-weight {missing}: no such file");
        Fails(1, ["export", missing], $"checkpoint {missing}: no such file");
        Fails(1, ["reconstruct", missing], $"checkpoint {missing}: no such file");
        Fails(1, ["pretrain", "--data", c.Dir("no-such-dir"), "--output", c.Dir("a")], "no such directory");
    }

    [Fact]
    public void EncoderOnlyAndWrongKeyFilesNameTheProblem()
    {
        using var c = new Corpus();
        string enc = c.Path("encoder.safetensors"), wrong = c.Path("wrongkeys.safetensors"), foreign = c.Path("foreign.safetensors");
        foreach (var cmd in new[] { "export", "reconstruct" })
        {
            Fails(1, [cmd, enc], $"sparkle {cmd}: checkpoint {enc}: an encoder-only (timm-style) file", "with-decoder checkpoint");
            Fails(1, [cmd, wrong], $"sparkle {cmd}: checkpoint {wrong} does not fit this run", "missing keys (", "more)");
        }
        Fails(1, ["pretrain", "--resume", enc, "--output", c.Path("r")], $"--resume {enc}: an encoder-only (timm-style) file");
        Assert.False(Directory.Exists(c.Path("r")));

        string data = c.Tmp.ImageFolder(perClass: 2);
        string[] tiny = ["--data", data, "--input-size", "16", "--batch-size", "2", "--dec-width", "16", "--workers", "0", "--quiet"];
        Fails(1, ["pretrain", "--resume", wrong, "--output", c.Path("r1"), .. tiny], $"sparkle pretrain: --resume {wrong} does not fit this run");
        Fails(1, ["pretrain", "--init-weight", foreign, "--output", c.Path("r2"), .. tiny], $"sparkle pretrain: --init-weight {foreign}");
        Fails(1, ["finetune", "--init-weight", foreign, "--output", c.Path("r3"), "--data", data, "--input-size", "16", "--workers", "0", "--quiet"],
            $"sparkle finetune: --init-weight {foreign}");
    }

    [Theory]
    [InlineData("pretrain --mask 0", "--mask 0 masks none of the 16 patches per image")]
    [InlineData("pretrain --mask 0.99", "--mask 0.99 leaves no visible patch of the 16 per image")]
    [InlineData("pretrain --input-size 8", "a 1x1 mask grid of 8 px patches: SparK needs at least 2 patches per image")]
    [InlineData("pretrain --input-size 16 --batch-size 1 --mask 0.75", "the deepest feature map is 2x2 with 1 visible site(s)", "batch norm in train mode needs more than one value per channel")]
    [InlineData("finetune --input-size 32 --small-stem false --batch-size 1", "the deepest feature map is 1x1 with 1 site(s)", "more than one value per channel")]
    [InlineData("pretrain --epochs 0", "--epochs must be at least 1")]
    [InlineData("pretrain --base-lr fast", "--base-lr expects a number, got 'fast'")]
    [InlineData("pretrain --device tpu", "unknown --device 'tpu'")]
    [InlineData("pretrain --resume a --overwrite", "give --resume", "or --overwrite", "not both")]
    [InlineData("finetune --mask 0.5", "finetune: --mask is an option of pretrain, bench, not of finetune")]
    [InlineData("linear-probe --resume x", "--resume is an option of pretrain, not of linear-probe")]
    [InlineData("bench --output x", "bench: --output is an option of pretrain, finetune, linear-probe", "not of bench")]
    [InlineData("bench --reps 0", "--reps must be at least 1")]
    [InlineData("export a b", "give the with-decoder checkpoint")]
    [InlineData("export x --epochs 2", "--epochs is an option of", "not of export")]
    [InlineData("reconstruct x --mask 0.5", "--mask is an option of", "not of reconstruct")]
    [InlineData("info --data x", "--data is an option of", "not of info")]
    public void BadOptionsAreUsageErrors(string line, params string[] expected) => Fails(2, line.Split(' '), expected);

    [Fact]
    public void DebugPrintsTheStackTrace()
    {
        using var c = new Corpus();
        var err = new StringWriter();
        Assert.Equal(1, Program.Run(["export", c.Path("four.safetensors"), "--debug"], TextWriter.Null, err));
        Assert.Contains("the file is 4 bytes long", err.ToString());
        Assert.Contains("   at ", err.ToString());
    }

    [Fact]
    public void OneLineShortensStateDictKeyLists()
    {
        string message = "LoadStateDict into ResNet failed:\n  missing keys (5): a, b, c, d, e\n  shape mismatches (1): w: expected (2), got (3)";
        Assert.Equal("LoadStateDict into ResNet failed: missing keys (5): a, b, c, ... (2 more); shape mismatches (1): w: expected (2), got (3)",
            ErrorReport.OneLine(message));
    }
}
