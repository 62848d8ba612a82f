using System.Collections.Concurrent;
using ILGPU;
using ILGPU.Runtime;

namespace Sparkle.Gpu.Memory;

/// <summary>One pooled device allocation: a byte buffer of <see cref="Bytes"/> (its size class).</summary>
internal sealed class DeviceBlock(MemoryBuffer1D<byte, Stride1D.Dense> buffer, long bytes)
{
    public MemoryBuffer1D<byte, Stride1D.Dense> Buffer { get; } = buffer;
    public long Bytes { get; } = bytes;
}

/// <summary>
/// The device memory of one accelerator: size-class free lists of byte buffers that storages rent and give back
/// (docs/gpu.md, "Memory"). Rules that keep reuse safe:
/// <list type="bullet">
/// <item>Every kernel, memset and copy of the backend runs on the accelerator's default stream, in order. A block given
/// back while a queued kernel still reads it can therefore be handed to a later launch at once: that launch runs after
/// the reader. Nothing is freed to the driver without <see cref="Accelerator.Synchronize"/> first (<see cref="Trim"/>).</item>
/// <item>Blocks come back from any thread (Dispose, finalizers) through a lock-free queue; only the thread that holds the
/// backend's launch lock moves them into the free lists, so no device call ever runs on the finalizer thread.</item>
/// <item>The pool holds every block it created strongly, so ILGPU's own buffer finalizers never free device memory behind
/// its back (on CUDA they run without the context and fail silently: that leak was the out-of-memory of issue 8).</item>
/// </list>
/// When a new block would pass <see cref="Limit"/> or the driver refuses it, the pool reclaims storages that nobody
/// references any more (a blocking GC plus their finalizers), then frees its free lists, then tries once more.
/// All members must be called under the backend's launch lock except <see cref="Return"/>.
/// </summary>
internal sealed class DevicePool(Accelerator accelerator)
{
    private const long MinBlock = 256;
    private readonly Dictionary<long, Stack<DeviceBlock>> _free = [];
    private readonly ConcurrentQueue<DeviceBlock> _returned = new();
    private readonly HashSet<DeviceBlock> _all = [];   // keeps every block reachable: see the class remarks
    private long _reserved, _inUse, _pooled, _peakInUse, _peakReserved;
    private long _deviceAllocations, _reuses, _reclaims, _trims, _rents;

    /// <summary>Upper bound on bytes held from the driver (in use + pooled). Default: 90% of the device's memory.</summary>
    public long Limit { get; set; } = accelerator.MemorySize > 0 ? accelerator.MemorySize / 10 * 9 : long.MaxValue;

    /// <summary>Bytes the free lists may keep; beyond it the next rent frees them (after a synchronise).</summary>
    public long MaxPooledBytes { get; set; } = long.MaxValue;

    /// <summary>Fill blocks that are rented without zeroing with 0xFF bytes (NaN for floats, -1 for ints, 255 for bools):
    /// a kernel that reads its output before writing it then fails on the CPU simulator as it would on CUDA.</summary>
    public bool Poison { get; set; }

    /// <summary>The size class of a request: powers of two up to 64 KiB, then four classes per octave (at most 25% slack).</summary>
    public static long SizeClass(long bytes)
    {
        if (bytes <= MinBlock) return MinBlock;
        long p = 1L << (64 - (int)long.LeadingZeroCount(bytes - 1));      // smallest power of two >= bytes
        if (p <= 64 * 1024) return p;
        long quarter = p / 8;                                               // classes p/2 + k·p/8, k = 1..4
        long half = p / 2;
        return half + (bytes - half + quarter - 1) / quarter * quarter;
    }

    /// <summary>Thread-safe: gives a block back (it becomes reusable at the next rent).</summary>
    public void Return(DeviceBlock block) => _returned.Enqueue(block);

    public DeviceBlock Rent(long bytes)
    {
        Drain();
        long cls = SizeClass(bytes);
        _rents++;
        if (TryPop(cls) is { } reused) { _reuses++; return Use(reused); }
        if (_pooled > MaxPooledBytes) Trim();
        if (_reserved + cls > Limit)
        {
            ReclaimUnreachable();
            if (TryPop(cls) is { } b) { _reuses++; return Use(b); }
            if (_reserved + cls > Limit) Trim();
        }
        MemoryBuffer1D<byte, Stride1D.Dense> buffer;
        try
        {
            buffer = accelerator.Allocate1D<byte>(cls);
        }
        catch (Exception)
        {
            ReclaimUnreachable();
            if (TryPop(cls) is { } b) { _reuses++; return Use(b); }
            Trim();
            try { buffer = accelerator.Allocate1D<byte>(cls); }
            catch (Exception second)
            {
                throw new InvalidOperationException($"Device out of memory: {cls:N0} bytes requested on {accelerator.Name}; {Stats()}. " +
                    "Release tensors (GpuMemory.Release, a GpuMemory scope around each step) or lower the batch size.", second);
            }
        }
        _deviceAllocations++;
        _reserved += cls;
        _peakReserved = Math.Max(_peakReserved, _reserved);
        var block = new DeviceBlock(buffer, cls);
        _all.Add(block);
        return Use(block);
    }

    private DeviceBlock Use(DeviceBlock b)
    {
        _inUse += b.Bytes;
        _peakInUse = Math.Max(_peakInUse, _inUse);
        return b;
    }

    private DeviceBlock? TryPop(long cls)
    {
        if (!_free.TryGetValue(cls, out var stack) || stack.Count == 0) return null;
        var b = stack.Pop();
        _pooled -= b.Bytes;
        return b;
    }

    /// <summary>Moves returned blocks into the free lists.</summary>
    public void Drain()
    {
        while (_returned.TryDequeue(out var b))
        {
            _inUse -= b.Bytes;
            if (!_free.TryGetValue(b.Bytes, out var stack)) _free[b.Bytes] = stack = new Stack<DeviceBlock>();
            stack.Push(b);
            _pooled += b.Bytes;
        }
    }

    /// <summary>Runs a blocking GC and the finalizers of storages that became unreachable, so their blocks come back.
    /// Must not be called while holding a lock that a finalizer takes (finalizers only enqueue).</summary>
    public void ReclaimUnreachable()
    {
        _reclaims++;
        GC.Collect();
        GC.WaitForPendingFinalizers();
        Drain();
    }

    /// <summary>Frees every pooled block to the driver, after waiting for queued work that may still read them.</summary>
    public void Trim()
    {
        Drain();
        if (_pooled == 0) return;
        _trims++;
        accelerator.Synchronize();
        foreach (var stack in _free.Values)
            while (stack.Count > 0)
            {
                var b = stack.Pop();
                _all.Remove(b);
                b.Buffer.Dispose();
                _reserved -= b.Bytes;
            }
        _pooled = 0;
    }

    public DeviceMemoryStats Stats()
    {
        Drain();
        return new DeviceMemoryStats(_inUse, _pooled, _reserved, _peakInUse, _peakReserved, _deviceAllocations, _rents, _reuses, _reclaims, _trims);
    }

    /// <summary>Starts a new peak-measurement window (peaks become the current values).</summary>
    public void ResetPeaks()
    {
        Drain();
        _peakInUse = _inUse;
        _peakReserved = _reserved;
    }
}
