using System.Globalization;
using System.Xml.Linq;
using Sparkle.Data;
using Sparkle.Tests.Support;
using Xunit;

namespace Sparkle.Tests.Data;

/// <summary>loss.svg's axis ticks fall on multiples of 1, 2 or 5 × 10^k, labelled with the step's decimals, whatever the
/// current culture.</summary>
public class ChartTickTests
{
    private static readonly XNamespace Svg = "http://www.w3.org/2000/svg";

    /// <summary>The tick labels of a chart: x ticks sit below the plot (text-anchor middle), y ticks left of it (end).</summary>
    private static (string[] X, string[] Y) Labels(string svg)
    {
        var texts = XDocument.Parse(svg).Descendants(Svg + "text").ToList();
        string[] Of(string anchor, double? y) => texts.Where(t => (string?)t.Attribute("text-anchor") == anchor
            && (y is null || double.Parse((string)t.Attribute("y")!, CultureInfo.InvariantCulture) == y)).Select(t => t.Value).ToArray();
        return (Of("middle", 420 - 50 + 18), Of("end", null));
    }

    [Fact]
    public void LossChartTicksAreRoundNumbers()
    {
        // The reported chart: loss from 11.6 down to 0.5826 over 188 iterations.
        var x = Enumerable.Range(1, 188).Select(i => (double)i).ToArray();
        var y = x.Select(i => 0.5826 + (11.6 - 0.5826) * Math.Exp(-(i - 1) / 20.0)).ToArray();
        string svg = SvgLineChart.Render("loss", [new SvgLineChart.Series("loss", x, y)], "iteration", "loss");
        var (xs, ys) = Labels(svg);
        Assert.Equal(["20", "40", "60", "80", "100", "120", "140", "160", "180"], xs);
        Assert.Equal(["2", "4", "6", "8", "10", "12"], ys);           // the axis runs 5 % past the data

        var narrow = SvgLineChart.Render("loss", [new SvgLineChart.Series("loss", [0, 1, 2], [0.5826, 0.61, 0.6442])], "iteration", "loss");
        Assert.Equal(["0.58", "0.60", "0.62", "0.64"], Labels(narrow).Y);
    }

    [Fact]
    public void LogAxisTicksAreOneTwoFive()
    {
        var loss = Enumerable.Range(0, 50).Select(i => 0.9 / (i + 1)).ToList();   // 0.018 .. 0.9
        var (_, ys) = Labels(SvgLineChart.Render("loss", loss, logY: true));
        Assert.Equal(["0.02", "0.05", "0.1", "0.2", "0.5", "1"], ys);
    }

    [Fact]
    public void TicksAreStepsOfOneTwoOrFiveTimesAPowerOfTen()
    {
        var rng = new Random(19);
        for (int trial = 0; trial < 2000; trial++)
        {
            double lo = (rng.NextDouble() - 0.3) * Math.Pow(10, rng.Next(-4, 6));
            double hi = lo + rng.NextDouble() * Math.Pow(10, rng.Next(-3, 6)) + 1e-9;
            var ticks = SvgLineChart.NiceTicks(lo, hi).ToList();
            string what = $"[{lo.ToString("R", CultureInfo.InvariantCulture)}, {hi.ToString("R", CultureInfo.InvariantCulture)}]";
            Assert.InRange(ticks.Count, 4, 11);
            double spacing = (ticks[^1].Value - ticks[0].Value) / (ticks.Count - 1), power = Math.Pow(10, Math.Floor(Math.Log10(spacing) + 1e-6));
            double mantissa = Math.Round(spacing / power, 6);
            Assert.True(mantissa is 1 or 2 or 5, $"{what}: spacing {spacing}");
            double step = mantissa * power;
            for (int i = 1; i < ticks.Count; i++) Assert.Equal(step, ticks[i].Value - ticks[i - 1].Value, step * 1e-6 + Math.Abs(ticks[i].Value) * 1e-12);
            foreach (var (v, label) in ticks)
            {
                Assert.InRange(v, lo - 1e-9 * Math.Abs(step), hi + 1e-9 * Math.Abs(step));
                Assert.True(Math.Abs(v / step - Math.Round(v / step)) < 1e-6, $"{what}: tick {v} is not a multiple of {step}");
                Assert.Equal(v, double.Parse(label, CultureInfo.InvariantCulture), Math.Abs(step) * 1e-6);
            }
        }
    }

    [Fact]
    public void ChartNumbersAreInvariantUnderACommaCulture()
    {
        using var culture = CommaCulture.Use();
        string svg = SvgLineChart.Render("loss", [new SvgLineChart.Series("loss", [0, 1, 2], [0.5826, 0.61, 0.6442])], "iteration", "loss");
        Assert.Contains("0.58", Labels(svg).Y);
        foreach (var e in XDocument.Parse(svg).Descendants())
            foreach (var a in e.Attributes().Where(a => a.Name.LocalName is "x" or "y" or "x1" or "y1" or "x2" or "y2" or "width" or "height"))
                Assert.True(double.TryParse(a.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out _), $"{a.Name}=\"{a.Value}\"");
    }
}
