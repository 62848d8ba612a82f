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

    /// <summary>One parallel call. Workers keep a reference to the job they woke for, so a worker that wakes
    /// late (after the caller has returned, or during the next job) only finds its job's items all claimed.</summary>
    private sealed class Job(Action<int> body, int count)
    {
        public readonly Action<int> Body = body;
        public readonly int Count = count;
        public int Next;
        public int Completed;
        public Exception? Error;
    }

    private static volatile Job? _current;

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
            var job = new Job(body, count);
            _current = job;
            Wake.Release(threads - 1);
            RunItems(job);
            // Wait for items that workers claimed, not for workers to check in: a worker the OS wakes late
            // must not stall the caller (it will find nothing left to claim).
            var spin = new SpinWait();
            while (Volatile.Read(ref job.Completed) != count) spin.SpinOnce(sleep1Threshold: -1);
            _current = null; // do not keep the body's closure alive
            if (job.Error is { } e) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e).Throw();
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

    private static void RunItems(Job job)
    {
        bool was = _insideJob;
        _insideJob = true;
        try
        {
            int i;
            while ((i = Interlocked.Increment(ref job.Next) - 1) < job.Count)
            {
                try { job.Body(i); }
                catch (Exception e) { Interlocked.CompareExchange(ref job.Error, e, null); }
                Interlocked.Increment(ref job.Completed);
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
            RunCurrent();
        }
    }

    /// <summary>Not inlined: a job held in a local of the loop above could stay on this worker's stack while it waits
    /// for the next one, keeping the last body's closure (and the arrays it captured) alive.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static void RunCurrent()
    {
        if (_current is { } job) RunItems(job);
    }
}
