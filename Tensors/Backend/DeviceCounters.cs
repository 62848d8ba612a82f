using System.Globalization;

namespace Sparkle.Tensors.Backend;

/// <summary>
/// Running totals of one device's work (<see cref="IBackend.Counters"/>); two snapshots around N steps give
/// <see cref="StepCounters"/>. What each means per backend:
/// <list type="bullet">
/// <item>ILGPU: <see cref="Launches"/> = kernels and device memsets issued; <see cref="HostReads"/> = downloads (each waits
/// for the device); <see cref="DeviceAllocations"/> = blocks the pool took from the driver; <see cref="PeakBytes"/> = the
/// pool's peak bytes in use since the last <see cref="IBackend.ResetPeakMemory"/>.</item>
/// <item>CPU: no launches and no host reads (ops run inline on host memory), so both are 0; DeviceAllocations = fresh arrays
/// of at least 16 KB (the sizes a TensorPool recycles: a steady-state pooled step allocates none); PeakBytes = the
/// process's peak resident set since it started (the OS keeps no resettable peak).</item>
/// </list>
/// </summary>
public readonly record struct DeviceCounters(long Launches, long HostReads, long DeviceAllocations, long PeakBytes)
{
    /// <summary>Per-step averages over the <paramref name="steps"/> steps between <paramref name="before"/> and this
    /// snapshot; the peak is this snapshot's.</summary>
    public StepCounters PerStepSince(DeviceCounters before, int steps)
    {
        int n = Math.Max(steps, 1);
        long Avg(long a, long b) => (long)Math.Round((a - b) / (double)n, MidpointRounding.AwayFromZero);
        return new StepCounters(Avg(Launches, before.Launches), Avg(HostReads, before.HostReads),
            Avg(DeviceAllocations, before.DeviceAllocations), (long)Math.Round(PeakBytes / 1048576.0));
    }
}

/// <summary>Per-step device counters of a benchmark (issue 15 item 6), printed by <c>sparkle bench</c>, <c>quick spark</c>
/// and GpuCheck as one line: <c>launches_per_step=N host_reads_per_step=N device_allocs_per_step=N device_peak_mb=N</c>.</summary>
public readonly record struct StepCounters(long LaunchesPerStep, long HostReadsPerStep, long DeviceAllocsPerStep, long DevicePeakMb)
{
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"launches_per_step={LaunchesPerStep} host_reads_per_step={HostReadsPerStep} device_allocs_per_step={DeviceAllocsPerStep} device_peak_mb={DevicePeakMb}");
}
