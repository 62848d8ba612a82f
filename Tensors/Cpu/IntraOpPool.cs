namespace Sparkle.Tensors.Cpu;

/// <summary>
/// The one intra-op thread pool of the CPU backend. Size from SPARKLE_NUM_THREADS (default: all cores).
/// The calling thread takes part in the work; nested calls from inside a parallel body run inline,
/// and calls from a second outside thread while a job runs also run inline (no oversubscription).
/// Work items are claimed dynamically, so uneven items balance themselves.
/// </summary>
public static class IntraOpPool
{
    private static readonly object Gate = new();
    private static readonly SemaphoreSlim Wake = new(0);
    private static int _workerCount;
    private static int _numThreads = DefaultThreads();

    [ThreadStatic] private static bool _insideJob;

    private static Action<int>? _body;
    private static int _count;
    private static int _next;
    private static int _activeWorkers;
    private static Exception? _error;

    private static int DefaultThreads()
    {
        var env = Environment.GetEnvironmentVariable("SPARKLE_NUM_THREADS");
        return int.TryParse(env, out int n) && n > 0 ? n : Environment.ProcessorCount;
    }

    /// <summary>Threads used by parallel kernels (including the caller). Settable at any time between ops.</summary>
    public static int NumThreads
    {
        get => _numThreads;
        set => _numThreads = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(value), "NumThreads must be at least 1.");
    }

    /// <summary>Runs body(i) for i in [0, count), spread over the pool.</summary>
    public static void For(int count, Action<int> body)
    {
        if (count <= 0) return;
        int threads = Math.Min(_numThreads, count);
        if (threads <= 1 || _insideJob || !Monitor.TryEnter(Gate))
        {
            for (int i = 0; i < count; i++) body(i);
            return;
        }
        try
        {
            EnsureWorkers(threads - 1);
            _body = body; _count = count; _next = 0; _error = null;
            Volatile.Write(ref _activeWorkers, threads - 1);
            Wake.Release(threads - 1);
            RunItems();
            var spin = new SpinWait();
            while (Volatile.Read(ref _activeWorkers) != 0) spin.SpinOnce(sleep1Threshold: -1);
            _body = null;
            if (_error is { } e) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e).Throw();
        }
        finally { Monitor.Exit(Gate); }
    }

    /// <summary>Splits [0, n) into chunks of at least <paramref name="grain"/> items, about 4 per thread,
    /// and runs body(start, end) on each.</summary>
    public static void ForRange(int n, int grain, Action<int, int> body)
    {
        if (n <= 0) return;
        int threads = _numThreads;
        if (threads <= 1 || n <= grain || _insideJob) { body(0, n); return; }
        int chunks = Math.Min(threads * 4, (n + grain - 1) / grain);
        int size = (n + chunks - 1) / chunks;
        chunks = (n + size - 1) / size;
        For(chunks, c => body(c * size, Math.Min(n, (c + 1) * size)));
    }

    private static void RunItems()
    {
        bool was = _insideJob;
        _insideJob = true;
        try
        {
            var body = _body!;
            int i;
            while ((i = Interlocked.Increment(ref _next) - 1) < _count)
            {
                try { body(i); }
                catch (Exception e) { Interlocked.CompareExchange(ref _error, e, null); }
            }
        }
        finally { _insideJob = was; }
    }

    private static void EnsureWorkers(int n)
    {
        while (_workerCount < n)
        {
            var t = new Thread(WorkerLoop) { IsBackground = true, Name = $"sparkle-intraop-{_workerCount}" };
            t.Start();
            _workerCount++;
        }
    }

    private static void WorkerLoop()
    {
        while (true)
        {
            Wake.Wait();
            RunItems();
            Interlocked.Decrement(ref _activeWorkers);
        }
    }
}
