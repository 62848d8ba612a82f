using System.Globalization;
using System.Text;

namespace Sparkle.Data;

/// <summary>
/// A plain-text SVG line chart of one or more series (e.g. a loss curve against the step), with axes, a few
/// labelled ticks and a legend. Non-finite points are skipped. Optional log-scale y axis.
/// </summary>
public static class SvgLineChart
{
    private static readonly string[] Palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"];

    /// <summary>One named line.</summary>
    public sealed record Series(string Name, IReadOnlyList<double> X, IReadOnlyList<double> Y);

    /// <summary>Renders a chart of one series with x = 0, 1, 2, ...</summary>
    public static string Render(string title, IReadOnlyList<double> y, string xLabel = "step", string yLabel = "loss", bool logY = false) =>
        Render(title, [new Series(yLabel, Enumerable.Range(0, y.Count).Select(i => (double)i).ToArray(), y)], xLabel, yLabel, logY);

    public static string Render(string title, IReadOnlyList<Series> series, string xLabel, string yLabel, bool logY = false,
                                int width = 720, int height = 420)
    {
        ArgumentNullException.ThrowIfNull(series);
        const double left = 70, right = 20, top = 40, bottom = 50;
        double pw = width - left - right, ph = height - top - bottom;
        Func<double, double> fy = logY ? Math.Log10 : v => v;
        var pts = series.Select(s =>
        {
            if (s.X.Count != s.Y.Count) throw new ArgumentException($"SvgLineChart: series {s.Name} has {s.X.Count} x and {s.Y.Count} y values.");
            return Enumerable.Range(0, s.X.Count)
                .Select(i => (X: s.X[i], Y: fy(s.Y[i])))
                .Where(p => double.IsFinite(p.X) && double.IsFinite(p.Y)).ToArray();
        }).ToArray();
        var all = pts.SelectMany(p => p).ToArray();
        double x0 = all.Length > 0 ? all.Min(p => p.X) : 0, x1 = all.Length > 0 ? all.Max(p => p.X) : 1;
        double y0 = all.Length > 0 ? all.Min(p => p.Y) : 0, y1 = all.Length > 0 ? all.Max(p => p.Y) : 1;
        if (x1 <= x0) x1 = x0 + 1;
        if (y1 <= y0) { y0 -= 0.5; y1 += 0.5; }
        double pad = (y1 - y0) * 0.05;
        y0 -= pad; y1 += pad;
        double Sx(double v) => left + (v - x0) / (x1 - x0) * pw;
        double Sy(double v) => top + (1 - (v - y0) / (y1 - y0)) * ph;

        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"12\">\n");
        sb.Append(CultureInfo.InvariantCulture, $"<rect width=\"{width}\" height=\"{height}\" fill=\"white\"/>\n");
        sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{width / 2}\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">{Escape(title)}</text>\n");
        sb.Append(CultureInfo.InvariantCulture, $"<rect x=\"{F(left)}\" y=\"{F(top)}\" width=\"{F(pw)}\" height=\"{F(ph)}\" fill=\"none\" stroke=\"#333\"/>\n");
        foreach (var (xv, label) in NiceTicks(x0, x1))
        {
            sb.Append(CultureInfo.InvariantCulture, $"<line x1=\"{F(Sx(xv))}\" y1=\"{F(top + ph)}\" x2=\"{F(Sx(xv))}\" y2=\"{F(top + ph + 5)}\" stroke=\"#333\"/>");
            sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{F(Sx(xv))}\" y=\"{F(top + ph + 18)}\" text-anchor=\"middle\">{label}</text>\n");
        }
        foreach (var (yv, label) in logY ? LogTicks(y0, y1) : NiceTicks(y0, y1))
        {
            sb.Append(CultureInfo.InvariantCulture, $"<line x1=\"{F(left)}\" y1=\"{F(Sy(yv))}\" x2=\"{F(left + pw)}\" y2=\"{F(Sy(yv))}\" stroke=\"#ddd\"/>");
            sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{F(left - 6)}\" y=\"{F(Sy(yv) + 4)}\" text-anchor=\"end\">{label}</text>\n");
        }
        sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{F(left + pw / 2)}\" y=\"{height - 10}\" text-anchor=\"middle\">{Escape(xLabel)}</text>\n");
        sb.Append(CultureInfo.InvariantCulture, $"<text x=\"16\" y=\"{F(top + ph / 2)}\" text-anchor=\"middle\" transform=\"rotate(-90 16 {F(top + ph / 2)})\">{Escape(yLabel + (logY ? " (log)" : ""))}</text>\n");
        for (int s = 0; s < series.Count; s++)
        {
            string colour = Palette[s % Palette.Length];
            if (pts[s].Length > 0)
            {
                sb.Append(CultureInfo.InvariantCulture, $"<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\" points=\"");
                sb.AppendJoin(' ', pts[s].Select(p => $"{F(Sx(p.X))},{F(Sy(p.Y))}"));
                sb.Append("\"/>\n");
            }
            sb.Append(CultureInfo.InvariantCulture, $"<line x1=\"{F(left + 10)}\" y1=\"{F(top + 14 + 16 * s)}\" x2=\"{F(left + 30)}\" y2=\"{F(top + 14 + 16 * s)}\" stroke=\"{colour}\" stroke-width=\"2\"/>");
            sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{F(left + 36)}\" y=\"{F(top + 18 + 16 * s)}\">{Escape(series[s].Name)}</text>\n");
        }
        sb.Append("</svg>\n");
        return sb.ToString();
    }

    /// <summary>Writes <see cref="Render(string, IReadOnlyList{double}, string, string, bool)"/> to a file (atomically).</summary>
    public static void Save(string path, string title, IReadOnlyList<double> y, string xLabel = "step", string yLabel = "loss", bool logY = false) =>
        PngWriter.WriteAtomically(path, Encoding.UTF8.GetBytes(Render(title, y, xLabel, yLabel, logY)));

    private static string F(double v) => v.ToString("0.##", CultureInfo.InvariantCulture);

    /// <summary>
    /// Ticks on a linear axis at multiples of a step of 1, 2 or 5 × 10^k (the matplotlib/d3 rule), the largest such step
    /// that gives at least <paramref name="target"/> ticks inside [lo, hi] (so 4 to 11 of them), labelled with the step's
    /// decimals: 0.58 0.60 0.62 ..., never 0.5826.
    /// </summary>
    internal static IEnumerable<(double Value, string Label)> NiceTicks(double lo, double hi, int target = 4)
    {
        if (!(hi > lo) || !double.IsFinite(hi - lo)) yield break;
        int k = (int)Math.Floor(Math.Log10((hi - lo) / target));
        double step = 0;
        int decimals = 0;
        foreach (int e in new[] { k + 1, k })                          // 5, 2, 1 × 10^(k+1), then × 10^k
            foreach (int m in new[] { 5, 2, 1 })
                if (step == 0 && Math.Floor(hi / (m * Math.Pow(10, e))) - Math.Ceiling(lo / (m * Math.Pow(10, e))) + 1 >= target)
                    (step, decimals) = (m * Math.Pow(10, e), Math.Max(0, -e));
        if (step == 0) (step, decimals) = (Math.Pow(10, k - 1), Math.Max(0, 1 - k));
        for (long i = (long)Math.Ceiling(lo / step); i * step <= hi; i++)
        {
            double v = decimals > 0 ? Math.Round(i * step, decimals) : i * step;
            yield return (v, Label(v, decimals));
        }
    }

    /// <summary>A log axis (values are log10): ticks at 1, 2, 5 × 10^k inside the range, only the powers of ten when they
    /// are enough (at least 3).</summary>
    internal static IEnumerable<(double Value, string Label)> LogTicks(double lo, double hi)
    {
        if (!(hi > lo) || !double.IsFinite(hi - lo)) yield break;
        int e0 = (int)Math.Floor(lo), e1 = (int)Math.Ceiling(hi);
        int[] mantissas = Enumerable.Range(e0, e1 - e0 + 1).Count(e => e >= lo && e <= hi) >= 3 ? [1] : [1, 2, 5];
        for (int e = e0; e <= e1; e++)
            foreach (int m in mantissas)
            {
                double v = Math.Log10(m) + e;
                if (v >= lo && v <= hi) yield return (v, Label(m * Math.Pow(10, e), Math.Max(0, -e)));
            }
    }

    private static string Label(double v, int decimals) =>
        Math.Abs(v) >= 1e5 || (v != 0 && Math.Abs(v) < 1e-4) ? v.ToString("0.#e0", CultureInfo.InvariantCulture)
        : v.ToString("F" + decimals.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);

    private static string Escape(string s) => s.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;").Replace("\"", "&quot;");
}
