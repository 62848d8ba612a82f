using Sparkle.Cli;
using StbImageWriteSharp;
using Xunit;

namespace Sparkle.Tests.Cli;

/// <summary>Truncated images in --data: skipped with path and reason on stderr and one summary line (pretrain,
/// reconstruct), or exit 1 naming the first one with --strict-images (pretrain, finetune, linear-probe, reconstruct).</summary>
[Collection(CliCollection.Name)]
public class BadImagesCliTests
{
    /// <summary>The tiny class folders plus a JPEG cut to a third of its length and a PNG cut inside its data.</summary>
    private static (string Data, string Jpeg, string Png) BadData(CliTemp tmp)
    {
        string data = tmp.ImageFolder();
        var px = Enumerable.Range(0, 32 * 32 * 3).Select(i => (byte)(i * 13 % 256)).ToArray();
        using var ms = new MemoryStream();
        new ImageWriter().WriteJpg(px, 32, 32, ColorComponents.RedGreenBlue, ms, 90);
        string jpeg = Path.Combine(data, "dark", "cut.jpg"), png = Path.Combine(data, "light", "cut.png");
        File.WriteAllBytes(jpeg, ms.ToArray()[..(int)(ms.Length / 3)]);
        var good = File.ReadAllBytes(Path.Combine(data, "light", "00.png"));
        File.WriteAllBytes(png, good[..(good.Length / 2)]);
        return (data, jpeg, png);
    }

    private static string[] Tiny(string data, string output, params string[] more) =>
    [
        "--data", data, "--output", output, "--input-size", "16", "--batch-size", "4", "--epochs", "2", "--warmup-epochs", "0.5",
        "--dec-width", "16", "--workers", "1", "--vis-images", "3", "--quiet", .. more,
    ];

    [Fact]
    public void BadImagesAreSkippedOnStderrWithOneSummaryLine()
    {
        using var tmp = new CliTemp();
        var (data, jpeg, png) = BadData(tmp);
        string output = tmp.Dir("run");
        var (stdout, stderr) = (new StringWriter(), new StringWriter());
        Assert.Equal(0, Program.Run(["pretrain", .. Tiny(data, output, "--stop-at", "0")], stdout, stderr));
        var lines = stderr.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Contains($"skipping image {jpeg}: truncated JPEG (", stderr.ToString());
        Assert.Contains($"skipping image {png}: truncated PNG (", stderr.ToString());
        Assert.Single(lines, l => l.StartsWith("skipped ", StringComparison.Ordinal));
        Assert.Contains("skipped 2 of 14 files: 1 truncated JPEG, 1 truncated PNG", lines);
        Assert.DoesNotContain("skipping", stdout.ToString());
        var config = RunLog.Read(Path.Combine(output, "log.jsonl"))[0];
        Assert.Equal(12, config.GetProperty("train_images").GetInt32());              // the two bad files never reach a batch

        string checkpoint = Path.Combine(output, "resnet18_withdecoder_1kpretrained_spark_style.safetensors");
        var err = new StringWriter();
        Assert.Equal(0, Program.Run(["reconstruct", checkpoint, "--data", data, "--images", "2", "--output", tmp.Dir("r.png")], TextWriter.Null, err));
        Assert.Contains("skipped 2 of 14 files", err.ToString());
        err = new StringWriter();
        Assert.Equal(1, Program.Run(["reconstruct", checkpoint, "--data", data, "--strict-images", "--output", tmp.Dir("r2.png")], TextWriter.Null, err));
        Assert.StartsWith($"sparkle reconstruct: {jpeg}: truncated JPEG (", err.ToString());
        Assert.False(File.Exists(tmp.Dir("r2.png")));
    }

    [Theory]
    [InlineData("pretrain")]
    [InlineData("finetune")]
    [InlineData("linear-probe")]
    public void StrictImagesExitsOneNamingTheFirstBadFile(string command)
    {
        using var tmp = new CliTemp();
        var (data, jpeg, _) = BadData(tmp);
        var err = new StringWriter();
        int rc = Program.Run([command, "--data", data, "--input-size", "16", "--output", tmp.Dir("run"), "--quiet", "--strict-images"], TextWriter.Null, err);
        Assert.Equal(1, rc);
        Assert.StartsWith($"sparkle {command}: {jpeg}: truncated JPEG (", err.ToString());   // dark/cut.jpg sorts before light/cut.png
        Assert.DoesNotContain("   at ", err.ToString());
    }
}
