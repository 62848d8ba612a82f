using System.Diagnostics;
using Sparkle.Tensors;
using Sparkle.Tensors.Backend;

namespace Sparkle.Models.Training;

/// <summary>Timed steps of a <see cref="Pretrainer"/> (sorted step times in ms, the last loss, the device's per-step
/// counters over the timed steps).</summary>
public sealed record StepTimings(IReadOnlyList<double> SortedMs, double LastLoss, StepCounters Counters)
{
    public double MedianMs => SortedMs[SortedMs.Count / 2];
    public double MinMs => SortedMs[0];
}

/// <summary>
/// How every benchmark of the training step measures it (<c>sparkle bench</c>, <c>quick spark</c>, GpuCheck's
/// <c>spark</c>), so they time the step users run (<see cref="Pretrainer.Step"/>) the same way: warm-up steps (JIT, kernel
/// compiles, pools fill), then the timed steps with the device's counters read around them and its peak reset before.
/// </summary>
public static class StepTimer
{
    /// <param name="onStep">Called after each step (warm-up included) with its index from 0, milliseconds and loss.</param>
    public static StepTimings Run(Pretrainer trainer, Tensor images, int warmup, int reps, Action<int, double, double>? onStep = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(reps, 1);
        var backend = images.Backend;
        double loss = 0;
        double Step(int i)
        {
            long t0 = Stopwatch.GetTimestamp();
            loss = trainer.Step(images);
            double ms = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            onStep?.Invoke(i, ms, loss);
            return ms;
        }
        for (int i = 0; i < warmup; i++) Step(i);
        backend.ResetPeakMemory();
        var before = backend.Counters;
        var times = new double[reps];
        for (int i = 0; i < reps; i++) times[i] = Step(warmup + i);
        var counters = backend.Counters.PerStepSince(before, reps);
        Array.Sort(times);
        return new StepTimings(times, loss, counters);
    }
}
