namespace Sparkle.Tensors.Backend;

/// <summary>
/// The training step's view of a device (issue 15, items 5 and 6): the one step (Models/Training/Pretrainer) opens
/// <see cref="BeginStep"/> around each step, and benchmarks read <see cref="Counters"/> before and after timed steps.
/// Both have defaults so a backend that has neither a memory scope nor counters needs nothing. This is how Models, which
/// may not reference Gpu, still gets the ILGPU backend's memory scope: the backend supplies it through the seam.
/// </summary>
public partial interface IBackend
{
    /// <summary>Opened around one training step and disposed at its end: the device's memory scope (ILGPU: GpuMemory.Scope,
    /// so the step's dead device storages are back in the pool before the next step). Null: nothing to do (the CPU, whose
    /// arrays the step's TensorPool recycles).</summary>
    IDisposable? BeginStep() => null;

    /// <summary>Running totals of this device's work since it was created (see <see cref="DeviceCounters"/>).</summary>
    DeviceCounters Counters => default;

    /// <summary>Starts a new window for <see cref="DeviceCounters.PeakBytes"/> where the device can (a no-op otherwise).</summary>
    void ResetPeakMemory() { }
}
