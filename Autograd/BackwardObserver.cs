namespace Sparkle.Autograd;

/// <summary>
/// Listens to the backward passes of one thread (what PyTorch DDP's Reducer gets from its per-parameter hooks): a
/// data-parallel gradient average starts a bucket's all-reduce as soon as the last of its gradients is final, while the
/// backward still runs, and progresses the collectives it started between nodes. Installed with
/// <see cref="BackwardObserver.Use"/>.
/// </summary>
public interface IBackwardObserver
{
    /// <summary>No edge of this backward will add to <paramref name="leaf"/>'s gradient any more: every edge of the graph
    /// into it has delivered (or had nothing to deliver, e.g. a branch with no gradient; then <c>Grad</c> may be null).
    /// Called once per leaf reached by the backward, on the thread running it, right after its last accumulation.</summary>
    void LeafGradientFinal(Tensors.Tensor leaf);

    /// <summary>Between two nodes of the backward, where no kernel of this thread runs: the point to test (and so
    /// progress) nonblocking collectives, which MPI advances only inside MPI calls.</summary>
    void BetweenNodes();
}

/// <summary>The observer of this thread's backward passes (one at a time, as <c>SyncBatchNorm.Use</c> installs a
/// group). With none installed the engine does no extra work: it counts no leaf edges and calls nothing.</summary>
public static class BackwardObserver
{
    [ThreadStatic] private static IBackwardObserver? _current;

    /// <summary>The observer of this thread's backward passes, or null.</summary>
    public static IBackwardObserver? Current => _current;

    /// <summary>Installs <paramref name="observer"/> for the backward passes run on this thread until the scope ends
    /// (null: none); the previous one comes back after.</summary>
    public static Scope Use(IBackwardObserver? observer)
    {
        var previous = _current;
        _current = observer;
        return new Scope(previous);
    }

    public readonly struct Scope(IBackwardObserver? previous) : IDisposable
    {
        public void Dispose() => _current = previous;
    }
}
