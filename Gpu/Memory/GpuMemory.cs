using Sparkle.Tensors;

namespace Sparkle.Gpu.Memory;

/// <summary>
/// User-facing control of device memory (docs/gpu.md, "Memory"). Storages go back to their pool in three ways:
/// <list type="number">
/// <item><see cref="Release"/> (or <c>IlgpuStorage.Dispose</c>): now, for tensors the caller knows are dead.</item>
/// <item>A <see cref="Scope"/> around each training step: when it ends, every storage that no object references any more
/// (the step's activations, saved tensors the autograd engine dropped after Backward, temporaries) is back in the pool,
/// so the next step reuses the same blocks and allocates no device memory. Storages still referenced (parameters, their
/// Grad, optimizer state, anything the caller kept) are untouched: the scope never invalidates a live tensor.</item>
/// <item>Finalizers, whenever the GC runs; and under pressure the pool itself forces that before growing past its limit.</item>
/// </list>
/// </summary>
public static class GpuMemory
{
    private static readonly List<WeakReference<IlgpuBackend>> Live = [];

    internal static void Register(IlgpuBackend b) { lock (Live) Live.Add(new WeakReference<IlgpuBackend>(b)); }
    internal static void Unregister(IlgpuBackend b) { lock (Live) Live.RemoveAll(w => !w.TryGetTarget(out var t) || ReferenceEquals(t, b)); }

    /// <summary>Gives the device storages of these tensors back to their pools now. The caller guarantees that no tensor
    /// sharing a storage with them (views included) is used afterwards: such use throws ObjectDisposedException. CPU
    /// tensors are ignored. Safe with kernels still queued: later launches run after them on the same stream.</summary>
    public static void Release(params Tensor?[] tensors)
    {
        foreach (var t in tensors)
            if (t?.Storage is IlgpuStorage s) s.Dispose();
    }

    /// <summary>Opens a scope; disposing it returns every unreferenced device storage to its pool (one blocking GC and
    /// the finalizers of dead storages). Typical use: <c>using (GpuMemory.Scope()) { forward; backward; step; }</c>.</summary>
    public static MemoryScope Scope() => new();

    /// <summary>Returns unreferenced storages of every open ILGPU device to their pools now (what a scope does at its end).</summary>
    public static void Collect()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        IlgpuBackend[] backends;
        lock (Live) backends = Live.Select(w => w.TryGetTarget(out var b) ? b : null).OfType<IlgpuBackend>().ToArray();
        foreach (var b in backends) b.DrainReturned();
    }
}

/// <summary>See <see cref="GpuMemory.Scope"/>.</summary>
public sealed class MemoryScope : IDisposable
{
    private bool _done;

    internal MemoryScope() { }

    public void Dispose()
    {
        if (_done) return;
        _done = true;
        GpuMemory.Collect();
    }
}
