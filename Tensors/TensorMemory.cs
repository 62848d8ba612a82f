using Sparkle.Tensors.Cpu;

namespace Sparkle.Tensors;

/// <summary>
/// A pool that recycles the arrays of dead CPU tensors between the steps of a training loop, so a steady-state step
/// allocates (almost) nothing on the managed heap (DESIGN.md §6). The training loops (Pretrainer, Finetuner) own
/// one and use it around each step; elsewhere:
/// <code>
/// var pool = new TensorPool();
/// for (...) { using (pool.Use()) { var loss = model.Loss(batch); loss.Backward(); opt.Step(); opt.ZeroGrad(); } }
/// </code>
/// Semantics do not change: a tensor keeps its data as long as it is referenced; only arrays of tensors that the GC
/// found unreachable are handed out again, and only at safe points (between backward nodes; <see cref="Reclaim"/>).
/// See docs/tensors.md, "Memory".
/// </summary>
public sealed class TensorPool
{
    private readonly StoragePool _pool = new();

    internal StoragePool Storages => _pool;

    /// <summary>This thread's CPU allocations of at least 16 KB come from the pool until the scope is disposed. One
    /// thread at a time; scopes nest (the innermost pool serves).</summary>
    public IDisposable Use() => _pool.Use();

    /// <summary>A safe point that always collects (e.g. after a forward-only step, which has no backward safe
    /// points). Call it on the thread using the pool, outside any op.</summary>
    public void Reclaim()
    {
        using (_pool.Use()) _pool.SafePoint(force: true);
    }

    /// <summary>Drops the arrays waiting in the free lists.</summary>
    public void Clear() => _pool.Clear();

    /// <summary>Counters in bytes: waiting in free lists now and at most, allocated fresh and served from free lists;
    /// the full collections the pool induced and the time they took.</summary>
    public PoolStats Stats => new(_pool.BytesFree, _pool.PeakFreeBytes, _pool.FreshBytes, _pool.ReusedBytes, _pool.Collections,
        System.Diagnostics.Stopwatch.GetElapsedTime(0, _pool.CollectionTicks).TotalMilliseconds);
}

/// <summary>Entry points for code that runs ops (engines, loops) rather than owning a pool.</summary>
public static class TensorMemory
{
    /// <summary>Whether this thread's CPU allocations come from a pool.</summary>
    public static bool IsPooled => StoragePool.Current is not null;

    /// <summary>
    /// Called where no kernel of this thread is running (the autograd engine calls it between backward nodes):
    /// when enough memory has been handed out since the last reclaim, collects garbage and makes the arrays of
    /// dead tensors available again. Cheap otherwise; a no-op without a pool. Never call it from inside an op.
    /// </summary>
    public static void SafePoint() => StoragePool.Current?.SafePoint(force: false);

    /// <summary>A safe point that always collects (no-op without a pool).</summary>
    public static void Reclaim() => StoragePool.Current?.SafePoint(force: true);
}

/// <summary>Pool counters (see <see cref="TensorPool.Stats"/>).</summary>
public readonly record struct PoolStats(long Free, long PeakFree, long Fresh, long Reused, int Collections, double CollectionMs);
