using Sparkle.Gpu.Memory;
using Sparkle.Tensors.Backend;

namespace Sparkle.Gpu;

/// <summary>The training step's hooks on this device (Tensors/Backend/IBackend.Step.cs): the memory scope the one step
/// opens, and the counters <c>sparkle bench</c> prints per step.</summary>
public sealed partial class IlgpuBackend
{
    /// <summary>Kernels and zeroing memsets issued so far (every kernel passes <see cref="Timed"/>; the memset is the
    /// allocator's). Not counted: host-to-device uploads (transfers) and the 0xFF fill of <see cref="PoisonUninitialized"/>
    /// (a test aid, not the step's work).</summary>
    public long Launches { get; private set; }

    /// <summary>A <see cref="GpuMemory.Scope"/>: at the step's end its dead storages are back in the pool.</summary>
    public IDisposable BeginStep() => GpuMemory.Scope();

    public DeviceCounters Counters
    {
        get
        {
            lock (_gate)
            {
                var m = Pool.Stats();
                return new DeviceCounters(Launches, HostReads, m.DeviceAllocations, m.PeakInUse);
            }
        }
    }
}
