using System.Diagnostics;

namespace Sparkle.Autograd;

/// <summary>
/// Wall time of backward functions by node name (e.g. "Conv2dBackward"), summed over Backward() calls while enabled —
/// the first place to look when a training step is slow. Off by default (costs two timestamps per node when on).
/// <code>BackwardProfile.Enabled = true; loss.Backward(); Console.WriteLine(BackwardProfile.Report());</code>
/// </summary>
public static class BackwardProfile
{
    private static readonly Dictionary<string, (double Ms, int Calls)> Totals = [];

    public static bool Enabled { get; set; }

    public static void Reset()
    {
        lock (Totals) Totals.Clear();
    }

    /// <summary>One line per node name, slowest first: total ms, calls.</summary>
    public static string Report()
    {
        lock (Totals)
            return string.Join(Environment.NewLine, Totals.OrderByDescending(kv => kv.Value.Ms)
                .Select(kv => $"{kv.Key,-28} {kv.Value.Ms,10:F1} ms {kv.Value.Calls,6} calls"));
    }

    internal static long Start() => Enabled ? Stopwatch.GetTimestamp() : 0;

    internal static void Stop(GradNode node, long start)
    {
        if (!Enabled) return;
        double ms = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        lock (Totals)
        {
            var key = node.ToString();
            Totals[key] = Totals.TryGetValue(key, out var t) ? (t.Ms + ms, t.Calls + 1) : (ms, 1);
        }
    }
}
