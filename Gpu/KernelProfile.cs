using System.Text;

namespace Sparkle.Gpu;

/// <summary>
/// Per-launch device timing for finding slow kernels on a real GPU: while <see cref="IlgpuBackend.Profile"/> is set,
/// every launch waits for the device before and after, so each time is that kernel alone (the step itself runs slower).
/// Aggregated by backend method (Cast, Binary, Reduce, ScatterAdd, MatMul...) and kept for the slowest single launches.
/// </summary>
public sealed class KernelProfile
{
    private readonly Dictionary<string, (long Count, double Ms, long Threads)> _byOp = new();
    private readonly List<(double Ms, string Op, long Threads, string Detail)> _slowest = new();
    private const int Keep = 25;

    internal void Record(string op, long threads, string detail, TimeSpan elapsed)
    {
        double ms = elapsed.TotalMilliseconds;
        _byOp[op] = _byOp.TryGetValue(op, out var a) ? (a.Count + 1, a.Ms + ms, a.Threads + threads) : (1, ms, threads);
        if (_slowest.Count < Keep || ms > _slowest[^1].Ms)
        {
            _slowest.Add((ms, op, threads, detail));
            _slowest.Sort((x, y) => y.Ms.CompareTo(x.Ms));
            if (_slowest.Count > Keep) _slowest.RemoveAt(Keep);
        }
    }

    public double TotalMs => _byOp.Values.Sum(v => v.Ms);

    /// <summary>Per method: launches, total and mean ms, share of the total; then the slowest single launches.</summary>
    public override string ToString()
    {
        var sb = new StringBuilder();
        double total = Math.Max(TotalMs, 1e-9);
        sb.AppendLine($"kernel time {total:F1} ms in {_byOp.Values.Sum(v => v.Count)} launches");
        foreach (var (op, v) in _byOp.OrderByDescending(kv => kv.Value.Ms))
            sb.AppendLine($"  {op,-22} {v.Count,6} launches {v.Ms,10:F1} ms {100 * v.Ms / total,5:F1} %  mean {v.Ms / v.Count:F3} ms, {v.Threads / v.Count} threads");
        sb.AppendLine("  slowest launches:");
        foreach (var s in _slowest)
            sb.AppendLine($"    {s.Ms,9:F2} ms {s.Op,-20} {s.Threads,10} threads {s.Detail}");
        return sb.ToString();
    }
}
