using System.Globalization;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using Sparkle.Cli;
using Sparkle.Models.Training;
using Sparkle.Nn.Serialization;
using Sparkle.Tests.Support;
using Xunit;

namespace Sparkle.Tests.Cli;

/// <summary>Numbers written to files (checkpoint metadata, log.jsonl, loss.svg) do not depend on the current culture:
/// a pretrain run under a comma-decimal culture (de-DE) writes "0.9876", never "0,9876" (the run is PretrainCliTests'
/// non-finite-loss run, which checks its files with <see cref="CheckInvariantNumbers"/>).</summary>
[Collection(CliCollection.Name)]
public class InvariantFilesCliTests
{
    [Fact]
    public void NonFiniteLossMessageIsInvariant()
    {
        using var _ = CommaCulture.Use();
        Assert.Equal("1,5", 1.5.ToString(CultureInfo.CurrentCulture));        // the culture does bite
        Assert.Contains("became Infinity at iteration 7;", new NonFiniteLossException(7, double.PositiveInfinity).Message);
        Assert.Contains("became -Infinity at iteration 7;", new NonFiniteLossException(7, double.NegativeInfinity).Message);
        Assert.Contains("became 1.5 at", new NonFiniteLossException(7, 1.5).Message);
    }

    /// <summary>The files of a pretrain run (<see cref="PretrainCliTests.ANonFiniteLossStopsTheRunAndKeepsTheLastCheckpoint"/>,
    /// run under <see cref="CommaCulture"/>: epoch 1 written, then the NaN stop at iteration 4) hold invariant numbers.</summary>
    internal static void CheckInvariantNumbers(string output)
    {
        var meta = SafeTensors.ReadHeader(Path.Combine(output, "resnet18_withdecoder_1kpretrained_spark_style.safetensors")).Metadata;
        Assert.Matches(new Regex(@"^\d+\.\d{4} \d+\.\d{4}$"), meta["performance_desc"]);
        foreach (var key in new[] { "epoch_losses", "epoch_loss_sum" })
            Assert.All(meta[key].Split(','), v => double.Parse(v, CultureInfo.InvariantCulture));
        Assert.All(meta["loss_history"].Split(','), p => double.Parse(p[(p.IndexOf(':') + 1)..], CultureInfo.InvariantCulture));

        var log = RunLog.Read(Path.Combine(output, "log.jsonl"));
        var stop = log[^1];
        Assert.Equal("non_finite_loss", stop.GetProperty("type").GetString());
        Assert.Contains("became NaN at iteration 4;", stop.GetProperty("message").GetString());
        Assert.Contains(log, e => e.GetProperty("type").GetString() == "step" && e.GetProperty("loss").GetDouble() > 0);

        XNamespace svg = "http://www.w3.org/2000/svg";
        var chart = XDocument.Load(Path.Combine(output, "loss.svg"));
        foreach (var t in chart.Descendants(svg + "text").Where(t => (string?)t.Attribute("text-anchor") == "end"))
            Assert.True(double.TryParse(t.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out _), $"tick '{t.Value}'");
        var points = chart.Descendants(svg + "polyline").Single().Attribute("points")!.Value.Split(' ');
        Assert.All(points, p => Assert.Equal(2, p.Split(',').Length));           // "x,y" pairs: no decimal comma inside
    }
}
