using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Sparkle.Tensors.Cpu;

/// <summary>
/// Recycles the arrays behind CPU tensors of one thread (docs/tensors.md, "Memory"). A training step allocates the
/// same sizes every time; without a pool each step's activations and gradients are fresh large-object-heap arrays
/// (page faults, gen-2 collections, and a resident peak of several steps' garbage).
/// <para>How an array comes back: a pooled storage (<see cref="PooledCpuStorage{T}"/>) has a finalizer that hands its
/// array to this pool's graveyard when the GC finds the storage unreachable (a tensor that is referenced keeps its
/// data, so nothing observable changes). The graveyard becomes free lists, keyed by element type and exact length,
/// only at <em>safe points</em> — moments when no kernel of this thread runs, so no code still holds the raw array
/// of a storage it has dropped: between the nodes of a backward pass (the engine calls
/// <see cref="TensorMemory.SafePoint"/>) and <see cref="TensorMemory.Reclaim"/>. When enough has been handed out
/// since the last reclaim, a safe point first runs a full collection so the dead are found promptly.</para>
/// <para>One thread at a time (<see cref="Use"/> enforces it): arrays are reused only at the using thread's safe
/// points, because another thread could be inside a kernel reading an array whose storage it has just dropped — so
/// do not run ops on a pool's tensors from other threads while it is in use. Without safe points (a forward-only
/// loop) the graveyard stops taking arrays two full collections after the last safe point and the GC frees them.</para>
/// </summary>
internal sealed class StoragePool
{
    /// <summary>Smaller arrays are left to the GC's gen-0 allocator, which is cheap for them.</summary>
    internal const int MinBytes = 16 * 1024;

    /// <summary>Bytes handed out between two collections induced at safe points. Smaller finds the dead sooner (a lower
    /// resident peak: an array can only be reused after the collection that found its tensor dead) at the price of more
    /// full collections, which are cheap here (a heap of large float arrays has little to mark).</summary>
    internal static long ReclaimEveryBytes = 24L << 20;            // settable for tests (a collection at every safe point)

    /// <summary>Full collections after the last safe point beyond which dead arrays are left to the GC: a thread
    /// that stopped reaching safe points (a forward-only loop) does not hoard them.</summary>
    private const int StaleAfterCollections = 2;

    /// <summary>A free list not drawn from for this many reclaims is dropped (sizes that stopped occurring) — or for two
    /// steps' worth of reclaims when that is more (a step = an outermost <see cref="Use"/> scope; a step with many
    /// reclaims must not drop the sizes it uses once per step).</summary>
    private const int IdleReclaimsBeforeTrim = 8;

    [ThreadStatic] private static StoragePool? _current;

    /// <summary>Diagnostics (benchmarks): called after each collection a safe point induces, once the dead arrays it
    /// found are in the free lists.</summary>
    internal static Action<StoragePool>? Trace;

    /// <summary>Free bytes per (element type, length), largest first (diagnostics).</summary>
    internal IEnumerable<(Type Type, int Length, int Count)> FreeLists() =>
        _free.Select(kv => (kv.Key.Item1, kv.Key.Item2, kv.Value.Arrays.Count)).OrderByDescending(e => (long)e.Item2 * e.Item3);

    private readonly System.Collections.Concurrent.ConcurrentQueue<Array> _graveyard = new();
    private int _gen2AtSafePoint = GC.CollectionCount(2);
    private readonly Dictionary<(Type, int), FreeList> _free = [];
    private long _handedOutSinceReclaim;
    private int _reclaims;
    private int _reclaimsAtScopeStart, _reclaimsPerStep;
    private int _ownerThread;

    private sealed class FreeList
    {
        public readonly Stack<Array> Arrays = new();
        public int LastUsed;
    }

    internal static StoragePool? Current => _current;

    /// <summary>Makes this pool the calling thread's until the scope is disposed (then the previous one is back).
    /// A pool serves one thread at a time.</summary>
    internal IDisposable Use()
    {
        int me = Environment.CurrentManagedThreadId;
        if (Interlocked.CompareExchange(ref _ownerThread, me, 0) is int owner && owner != 0 && owner != me)
            throw new InvalidOperationException($"This TensorPool is in use on thread {owner}; a pool serves one thread at a time (create one per thread).");
        var previous = _current;
        _current = this;
        if (owner == 0) _reclaimsAtScopeStart = _reclaims;
        return new Scope(this, previous, owner == 0);
    }

    private sealed class Scope(StoragePool pool, StoragePool? previous, bool releaseOwner) : IDisposable
    {
        private bool _disposed;

        public void Dispose()
        {
            if (_disposed) return;
            _disposed = true;
            _current = previous;
            if (!releaseOwner) return;
            pool._reclaimsPerStep = pool._reclaims - pool._reclaimsAtScopeStart;
            Volatile.Write(ref pool._ownerThread, 0);
        }
    }

    public long BytesFree { get; private set; }
    public long PeakFreeBytes { get; private set; }
    public long FreshBytes { get; private set; }
    public long ReusedBytes { get; private set; }
    public int Collections { get; private set; }
    public long CollectionTicks { get; private set; }

    /// <summary>An array of exactly <paramref name="length"/> elements for a new storage: from the free list when one
    /// is there (cleared when <paramref name="zeroed"/>), else fresh.</summary>
    public CpuStorage<T> Allocate<T>(int length, bool zeroed, Func<int, bool, T[]> fresh, CpuBackend? backend = null) where T : unmanaged
    {
        long bytes = (long)length * Unsafe.SizeOf<T>();
        T[] array;
        if ((_free.TryGetValue((typeof(T), length), out var list) && list.Arrays.Count > 0) || (list = BestFit(typeof(T), length)) is not null)
        {
            array = (T[])list.Arrays.Pop();
            bytes = Buffer.ByteLength(array);
            list.LastUsed = _reclaims;
            BytesFree -= bytes;
            ReusedBytes += bytes;
            if (zeroed) Array.Clear(array, 0, length);
            else if (CpuBackend.PoisonUninitialized) MemoryMarshal.AsBytes(array.AsSpan()).Fill(0xFF);
        }
        else
        {
            array = fresh(length, zeroed);
            FreshBytes += bytes;
        }
        _handedOutSinceReclaim += bytes;
        return new PooledCpuStorage<T>(array, this, backend);
    }

    /// <summary>Longest array, relative to the request, that a free list may serve when no array of the exact length
    /// is free (the rest of it is unused while the storage lives).</summary>
    internal static double MaxSlack = 2.0;

    /// <summary>The free list of the shortest free arrays of <paramref name="type"/> that are longer than
    /// <paramref name="length"/> by at most <see cref="MaxSlack"/>, or null.</summary>
    private FreeList? BestFit(Type type, int length)
    {
        FreeList? best = null;
        long bestLength = (long)(length * MaxSlack);
        foreach (var ((t, l), list) in _free)
            if (t == type && l > length && l <= bestLength && list.Arrays.Count > 0) (best, bestLength) = (list, l);
        return best;
    }

    /// <summary>Called by a pooled storage's finalizer (the finalizer thread).</summary>
    internal void Bury(Array array)
    {
        if (GC.CollectionCount(2) - Volatile.Read(ref _gen2AtSafePoint) > StaleAfterCollections) return;
        _graveyard.Enqueue(array);
    }

    /// <summary>At a safe point: collects first when enough was handed out since the last time (or when forced),
    /// then moves the graveyard into the free lists.</summary>
    public void SafePoint(bool force)
    {
        bool collected = force || _handedOutSinceReclaim >= ReclaimEveryBytes;
        if (collected)
        {
            _handedOutSinceReclaim = 0;
            _reclaims++;
            // Storages that lived through the forward pass are in gen 2 by then: only a full collection finds them.
            long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true);
            GC.WaitForPendingFinalizers();
            CollectionTicks += System.Diagnostics.Stopwatch.GetTimestamp() - t0;
            Collections++;
            Trim();
        }
        Volatile.Write(ref _gen2AtSafePoint, GC.CollectionCount(2));
        while (_graveyard.TryDequeue(out var array))
        {
            long bytes = Buffer.ByteLength(array);
            var key = (array.GetType().GetElementType()!, array.Length);
            if (!_free.TryGetValue(key, out var list)) _free[key] = list = new FreeList { LastUsed = _reclaims };
            list.Arrays.Push(array);
            BytesFree += bytes;
        }
        PeakFreeBytes = Math.Max(PeakFreeBytes, BytesFree);
        if (collected) Trace?.Invoke(this);
    }

    private void Trim()
    {
        foreach (var (key, list) in _free.ToArray())
        {
            if (_reclaims - list.LastUsed < Math.Max(IdleReclaimsBeforeTrim, 2 * _reclaimsPerStep)) continue;
            foreach (var a in list.Arrays) BytesFree -= Buffer.ByteLength(a);
            _free.Remove(key);
        }
    }

    /// <summary>Drops the free lists (the GC takes them).</summary>
    internal void Clear()
    {
        _free.Clear();
        _graveyard.Clear();
        BytesFree = 0;
    }
}

/// <summary>A CPU storage whose array returns to its <see cref="StoragePool"/> when the storage dies.</summary>
internal sealed class PooledCpuStorage<T> : CpuStorage<T> where T : unmanaged
{
    private readonly StoragePool _pool;

    public PooledCpuStorage(T[] data, StoragePool pool, CpuBackend? backend) : base(data, backend) { _pool = pool; }

    ~PooledCpuStorage() => _pool.Bury(Data);
}
