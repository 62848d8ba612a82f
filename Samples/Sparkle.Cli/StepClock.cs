using System.Diagnostics;

namespace Sparkle.Cli;

/// <summary>
/// The ETA of a training loop: the mean duration of the last <see cref="Window"/> steps times the steps left. The
/// first <see cref="WarmupSteps"/> steps of a process are left out (JIT compilation, the loader's first batches,
/// first-touch allocations: step 1 takes several times a steady step), so there is no estimate before step 3.
/// </summary>
internal sealed class StepClock
{
    public const int WarmupSteps = 2;
    public const int Window = 50;

    private readonly Func<double> _now;
    private readonly Queue<double> _recent = new();
    private double _sum, _last;
    private int _steps;

    public StepClock()
    {
        var watch = Stopwatch.StartNew();
        _now = () => watch.Elapsed.TotalSeconds;
    }

    /// <summary>Tests: a clock reading <paramref name="now"/> (seconds; 0 at the start).</summary>
    internal StepClock(Func<double> now) => _now = now;

    /// <summary>Marks the end of a step (call once per step, after it).</summary>
    public void Step()
    {
        double now = _now(), dt = now - _last;
        _last = now;
        if (++_steps <= WarmupSteps) return;
        _recent.Enqueue(dt);
        _sum += dt;
        if (_recent.Count > Window) _sum -= _recent.Dequeue();
    }

    /// <summary>Seconds since the clock started (the loop's start).</summary>
    public double Elapsed => _now();

    /// <summary>Mean seconds per step over the window; null before the first step after the warm-up.</summary>
    public double? SecondsPerStep => _recent.Count > 0 ? _sum / _recent.Count : null;

    /// <summary>Seconds left for <paramref name="stepsLeft"/> steps; null while there is no estimate.</summary>
    public double? Eta(long stepsLeft) => SecondsPerStep is double s ? s * stepsLeft : null;
}
