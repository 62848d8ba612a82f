using Sparkle.Tensors.Backend;

namespace Sparkle.Tensors.Cpu;

/// <summary>The CPU backend's <see cref="DeviceCounters"/> (their CPU meaning is documented there).</summary>
public sealed partial class CpuBackend
{
    private static long _largeArrays;

    /// <summary>Counts a fresh array that a TensorPool could have served (at least <see cref="StoragePool.MinBytes"/>).</summary>
    private static void CountFresh(long bytes)
    {
        if (bytes >= StoragePool.MinBytes) Interlocked.Increment(ref _largeArrays);
    }

    public DeviceCounters Counters
    {
        get
        {
            using var process = System.Diagnostics.Process.GetCurrentProcess();
            return new(0, 0, Interlocked.Read(ref _largeArrays), process.PeakWorkingSet64);
        }
    }
}
