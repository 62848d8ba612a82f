namespace Sparkle.Nn.Optim;

/// <summary>
/// SparK's per-iteration schedule (utils/lr_control.py <c>lr_wd_annealing</c>, SPARK.md §5.2): linear warm-up from
/// 0.5 % of the peak lr, then a cosine decay to 0.1 % of it; the weight decay follows a cosine from wd to wd_end
/// over the whole run (an increase in SparK, 0.04 → 0.2). With it the global iteration, wp the warm-up
/// iterations and T the total iterations:
/// <code>
/// it &lt; wp:  lr = peak·(0.005 + 0.995·it/wp)
/// else:     lr = peak·(0.001 + 0.999·(0.5 + 0.5·cos(π·(it − wp)/(T − 1 − wp))))
/// wd = wd_end + (wd − wd_end)·(0.5 + 0.5·cos(π·it/(T − 1)))
/// </code>
/// <see cref="Apply"/> writes lr·LrScale and wd·WeightDecayScale into every group; call it before the forward of
/// every iteration.
/// </summary>
public sealed class LrWdSchedule
{
    /// <param name="peakLr">The lr reached at the end of warm-up (SparK: base_lr·global_batch/256, <see cref="ScaledLr"/>).</param>
    /// <param name="weightDecay">The weight decay at iteration 0.</param>
    /// <param name="weightDecayEnd">The weight decay at the last iteration (taken literally; <see cref="FromEpochs"/>
    /// applies SparK's "0 means wd").</param>
    /// <param name="warmupIters">wp, an iteration count (already rounded).</param>
    /// <param name="totalIters">T = epochs·iters_per_epoch; iterations run 0..T−1.</param>
    public LrWdSchedule(double peakLr, double weightDecay, double weightDecayEnd, long warmupIters, long totalIters)
    {
        if (!(peakLr >= 0)) throw new ArgumentOutOfRangeException(nameof(peakLr), $"LrWdSchedule: peak lr must be >= 0, got {peakLr}.");
        if (!(weightDecay >= 0) || !(weightDecayEnd >= 0))
            throw new ArgumentOutOfRangeException(nameof(weightDecay), $"LrWdSchedule: weight decays must be >= 0, got {weightDecay} -> {weightDecayEnd}.");
        if (warmupIters < 0) throw new ArgumentOutOfRangeException(nameof(warmupIters), $"LrWdSchedule: warm-up must be >= 0 iterations, got {warmupIters}.");
        if (totalIters < 2 || warmupIters >= totalIters - 1)
            throw new ArgumentException($"LrWdSchedule: need total iterations >= 2 and warm-up < total − 1 (got warm-up {warmupIters}, total {totalIters}); the cosine divides by T − 1 − wp.");
        (PeakLr, WeightDecay, WeightDecayEnd, WarmupIters, TotalIters) = (peakLr, weightDecay, weightDecayEnd, warmupIters, totalIters);
    }

    /// <summary>SparK's arguments: wp = round(warmupEpochs·itersPerEpoch) (half to even, as Python's round),
    /// T = epochs·itersPerEpoch, and a weightDecayEnd of 0 falls back to weightDecay (arg_util: <c>wde or wd</c>).</summary>
    public static LrWdSchedule FromEpochs(double peakLr, double weightDecay, double weightDecayEnd, int epochs, double warmupEpochs, long itersPerEpoch)
    {
        if (epochs <= 0 || itersPerEpoch <= 0)
            throw new ArgumentOutOfRangeException(nameof(epochs), $"LrWdSchedule: epochs and iterations per epoch must be positive, got {epochs}, {itersPerEpoch}.");
        long wp = (long)Math.Round(warmupEpochs * itersPerEpoch, MidpointRounding.ToEven);
        return new LrWdSchedule(peakLr, weightDecay, weightDecayEnd == 0 ? weightDecay : weightDecayEnd, wp, (long)epochs * itersPerEpoch);
    }

    /// <summary>SparK's lr rule: base_lr·global_batch/256, with the realised global batch (per-GPU batch·world).</summary>
    public static double ScaledLr(double baseLr, int globalBatch) => baseLr * globalBatch / 256;

    /// <summary>iters_per_epoch = ceil(dataset_size / global_batch) (SparK's infinite sampler pads the last batch).</summary>
    public static long ItersPerEpoch(long datasetSize, int globalBatch) => (datasetSize + globalBatch - 1) / globalBatch;

    public double PeakLr { get; }
    public double WeightDecay { get; }
    public double WeightDecayEnd { get; }
    public long WarmupIters { get; }
    public long TotalIters { get; }

    /// <summary>The lr at iteration <paramref name="it"/> (before group scales).</summary>
    public double Lr(long it) => WarmupCosineLr(PeakLr, it, WarmupIters, TotalIters);

    /// <summary>The weight decay at iteration <paramref name="it"/> (before group scales).</summary>
    public double Wd(long it) => CosineWeightDecay(WeightDecay, WeightDecayEnd, it, TotalIters);

    /// <summary>Writes this iteration's lr and weight decay into every group (times its scales) and returns the
    /// smallest and largest values written, with the unscaled values included (as SparK logs them).</summary>
    public ScheduleValues Apply(Optimizer optimizer, long it) => Apply(optimizer, Lr(it), Wd(it));

    /// <summary>Writes lr·LrScale and wd·WeightDecayScale into every group of <paramref name="optimizer"/>.</summary>
    public static ScheduleValues Apply(Optimizer optimizer, double lr, double wd)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        double minLr = lr, maxLr = lr, minWd = wd, maxWd = wd;
        foreach (var g in optimizer.ParamGroups)
        {
            g.Lr = lr * g.LrScale;
            g.WeightDecay = wd * g.WeightDecayScale;
            (minLr, maxLr) = (Math.Min(minLr, g.Lr), Math.Max(maxLr, g.Lr));
            (minWd, maxWd) = (Math.Min(minWd, g.WeightDecay), Math.Max(maxWd, g.WeightDecay));
        }
        return new ScheduleValues(lr, wd, minLr, maxLr, minWd, maxWd);
    }

    /// <summary>Warm-up + cosine lr (SPARK.md §5.2).</summary>
    public static double WarmupCosineLr(double peakLr, long it, long warmupIters, long totalIters)
    {
        if (it < warmupIters) return peakLr * (0.005 + 0.995 * it / warmupIters);
        double t = (double)(it - warmupIters) / (totalIters - 1 - warmupIters);
        return peakLr * (0.001 + 0.999 * (0.5 + 0.5 * Math.Cos(Math.PI * t)));
    }

    /// <summary>Cosine weight decay from wd at iteration 0 to wdEnd at iteration T − 1 (SPARK.md §5.2).</summary>
    public static double CosineWeightDecay(double weightDecay, double weightDecayEnd, long it, long totalIters)
    {
        double s = (double)it / (totalIters - 1);
        return weightDecayEnd + (weightDecay - weightDecayEnd) * (0.5 + 0.5 * Math.Cos(Math.PI * s));
    }
}

/// <summary>What <see cref="LrWdSchedule.Apply(Optimizer, long)"/> set: the unscaled lr and wd, and the range over the
/// groups (including the unscaled values, as SparK's lr_wd_annealing returns them for logging).</summary>
public readonly record struct ScheduleValues(double Lr, double Wd, double MinLr, double MaxLr, double MinWd, double MaxWd);
