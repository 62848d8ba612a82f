using Sparkle.Gpu.Memory;

namespace Sparkle.Gpu;

/// <summary>Device memory: the pool behind every storage of this backend, its limits and statistics.</summary>
public sealed partial class IlgpuBackend
{
    internal DevicePool Pool { get; }

    /// <summary>Pool statistics (bytes in use, pooled, reserved, peaks, counts).</summary>
    public DeviceMemoryStats MemoryStats { get { lock (_gate) return Pool.Stats(); } }

    /// <summary>Upper bound on device bytes the pool holds; reaching it reclaims unreachable storages, then frees the
    /// free lists. Default: 90% of the device's memory.</summary>
    public long MemoryLimit
    {
        get { lock (_gate) return Pool.Limit; }
        set { lock (_gate) Pool.Limit = value; }
    }

    /// <summary>Bytes the free lists may keep between steps (default: no cap); beyond it they are freed to the driver.</summary>
    public long MaxPooledBytes
    {
        get { lock (_gate) return Pool.MaxPooledBytes; }
        set { lock (_gate) Pool.MaxPooledBytes = value; }
    }

    /// <summary>Tests: fill every storage allocated without zeroing with 0xFF bytes (NaN / -1 / 255), as the CPU backend
    /// does with <c>PoisonUninitialized</c>, so a kernel that reads memory it has not written fails on the CPU simulator the
    /// way it would on CUDA, where fresh and reused device memory is never zero.</summary>
    public bool PoisonUninitialized
    {
        get { lock (_gate) return Pool.Poison; }
        set { lock (_gate) Pool.Poison = value; }
    }

    /// <summary>Frees every pooled (unused) block to the driver, after a synchronise.</summary>
    public void TrimMemory() { lock (_gate) Pool.Trim(); }

    /// <summary>Starts a new window for <see cref="DeviceMemoryStats.PeakInUse"/> and PeakReserved.</summary>
    public void ResetPeakMemory() { lock (_gate) Pool.ResetPeaks(); }

    /// <summary>Waits for every queued kernel and copy of this device, then raises a pending index error, if any.</summary>
    public void Synchronize()
    {
        lock (_gate)
        {
            _accelerator.Synchronize();
            RaisePendingErrors();
        }
    }

    /// <summary>Moves blocks given back by finalizers into the free lists (called by <see cref="GpuMemory"/> scopes).</summary>
    internal void DrainReturned() { lock (_gate) Pool.Drain(); }
}
