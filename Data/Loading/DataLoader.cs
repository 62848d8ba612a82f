using Sparkle.Tensors;

namespace Sparkle.Data;

/// <summary>
/// Batches of transformed samples, made on background threads ahead of the consumer (a bounded prefetch window).
/// Determinism: epoch e's order is Randperm(N) with Generator(Seed + e) (then filled/dropped, <see cref="LastBatch"/>);
/// the sample at position p of epoch e gets the random stream <see cref="SampleRandom"/>(Seed, e, p). Batches are
/// therefore identical for any worker count and for a run resumed at any (epoch, iteration).
/// An item the dataset cannot load (reported by the dataset) is replaced by the next loadable item in dataset order.
/// </summary>
public sealed class DataLoader : IDisposable
{
    private readonly IImageDataset _dataset;
    private readonly ISampleTransform _transform;
    private readonly object _orderGate = new();
    private readonly Dictionary<int, int[]> _orders = new();
    private readonly List<Pipeline> _pipelines = new();
    private bool _disposed;

    public DataLoader(IImageDataset dataset, ISampleTransform transform, LoaderOptions? options = null)
    {
        _dataset = dataset ?? throw new ArgumentNullException(nameof(dataset));
        _transform = transform ?? throw new ArgumentNullException(nameof(transform));
        Options = options ?? new LoaderOptions();
        if (Options.BatchSize <= 0) throw new ArgumentException($"DataLoader: batch size must be positive, got {Options.BatchSize}.");
        if (Options.Workers < 0) throw new ArgumentException($"DataLoader: workers must be >= 0, got {Options.Workers}.");
        if (dataset.Count == 0) throw new ArgumentException("DataLoader: the dataset is empty.");
        int n = dataset.Count, b = Options.BatchSize;
        if (Options.WorldSize < 1 || (uint)Options.Rank >= (uint)Options.WorldSize)
            throw new ArgumentException($"DataLoader: rank {Options.Rank} outside a world of {Options.WorldSize}.");
        if (b % Options.WorldSize != 0)
            throw new ArgumentException($"DataLoader: the global batch {b} is not divisible by the world size {Options.WorldSize}.");
        if (Options.WorldSize > 1 && Options.LastBatch == LastBatch.Keep)
            throw new ArgumentException("DataLoader: LastBatch.Keep cannot be split across ranks (every rank needs full batches); use Fill or Drop.");
        IterationsPerEpoch = Options.LastBatch == LastBatch.Drop ? n / b : (n + b - 1) / b;
        if (IterationsPerEpoch == 0)
            throw new ArgumentException($"DataLoader: {n} items make no full batch of {b} with LastBatch.Drop.");
    }

    public LoaderOptions Options { get; }
    public IImageDataset Dataset => _dataset;
    public int IterationsPerEpoch { get; }

    /// <summary>The dataset indices epoch <paramref name="epoch"/> visits, in order (IterationsPerEpoch·B entries,
    /// fewer with <see cref="LastBatch.Keep"/>).</summary>
    public int[] EpochOrder(int epoch)
    {
        lock (_orderGate)
        {
            if (_orders.TryGetValue(epoch, out var cached)) return cached;
            int n = _dataset.Count, b = Options.BatchSize;
            int[] perm;
            if (Options.Shuffle)
            {
                var p = Tensor.Randperm(n, new Generator(unchecked(Options.Seed + (ulong)epoch))).ToArray<long>();
                perm = Array.ConvertAll(p, v => (int)v);
            }
            else perm = Enumerable.Range(0, n).ToArray();
            int len = Options.LastBatch switch
            {
                LastBatch.Fill => IterationsPerEpoch * b,
                LastBatch.Drop => IterationsPerEpoch * b,
                _ => n,
            };
            var order = new int[len];
            for (int i = 0; i < len; i++) order[i] = perm[i % n]; // Fill pads with the permutation's own first entries
            if (_orders.Count >= 4) _orders.Remove(_orders.Keys.Min());
            _orders[epoch] = order;
            return order;
        }
    }

    /// <summary>Makes batch (<paramref name="epoch"/>, <paramref name="iteration"/>) on the calling thread.</summary>
    public Batch GetBatch(int epoch, int iteration)
    {
        if ((uint)iteration >= (uint)IterationsPerEpoch)
            throw new ArgumentOutOfRangeException(nameof(iteration), $"iteration {iteration} outside [0, {IterationsPerEpoch}).");
        var order = EpochOrder(epoch);
        int b = Options.BatchSize / Options.WorldSize;                  // this rank's part of the global batch
        int first = Options.Rank * IterationsPerEpoch * b + iteration * b;   // inside this rank's contiguous chunk
        int count = Math.Min(b, order.Length - first);
        int s = _transform.OutputSize, sample = 3 * s * s;
        var pixels = new float[count * sample];
        var indices = new int[count];
        var labels = new long[count];
        for (int j = 0; j < count; j++)
        {
            var (index, image) = LoadOrSubstitute(order[first + j]);
            indices[j] = index;
            labels[j] = _dataset.Label(index);
            _transform.Apply(image, new SampleRandom(Options.Seed, epoch, first + j), pixels.AsSpan(j * sample, sample));
        }
        var images = Tensor.FromArray(pixels, [count, 3, s, s]);
        var lab = _dataset.Classes.Count > 0 ? Tensor.FromArray(labels, [count]) : null;
        return new Batch(images, lab, epoch, iteration, indices);
    }

    /// <summary>The batches of one epoch from <paramref name="startIteration"/> on.</summary>
    public IEnumerable<Batch> Epoch(int epoch, int startIteration = 0) => Batches(epoch, startIteration, epoch + 1);

    /// <summary>Batches from (<paramref name="startEpoch"/>, <paramref name="startIteration"/>) up to the end of epoch
    /// <paramref name="endEpoch"/> − 1 (forever when null), prefetched across epoch boundaries. Stop early by disposing
    /// the enumerator (leaving a foreach) or the loader.</summary>
    public IEnumerable<Batch> Batches(int startEpoch = 0, int startIteration = 0, int? endEpoch = null)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (startEpoch < 0 || startIteration < 0 || startIteration > IterationsPerEpoch)
            throw new ArgumentOutOfRangeException(nameof(startIteration), $"start ({startEpoch}, {startIteration}) is not a position of a {IterationsPerEpoch}-iteration epoch.");
        long it = IterationsPerEpoch;
        long first = startEpoch * it + startIteration;
        long end = endEpoch is int e ? Math.Max(first, e * it) : long.MaxValue;
        return Run(first, end);
    }

    private IEnumerable<Batch> Run(long first, long end)
    {
        if (Options.Workers == 0)
        {
            for (long g = first; g < end; g++)
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                yield return GetBatch((int)(g / IterationsPerEpoch), (int)(g % IterationsPerEpoch));
            }
            yield break;
        }
        var pipe = new Pipeline(this, first, end);
        lock (_pipelines) _pipelines.Add(pipe);
        try
        {
            for (long g = first; g < end; g++)
                yield return pipe.Take(g);
        }
        finally
        {
            pipe.Dispose();
            lock (_pipelines) _pipelines.Remove(pipe);
        }
    }

    private (int Index, DecodedImage Image) LoadOrSubstitute(int index)
    {
        int n = _dataset.Count;
        for (int k = 0; k < n; k++)
        {
            int i = (index + k) % n;
            if (_dataset.TryLoad(i, out var image)) return (i, image);
        }
        throw new InvalidDataException($"DataLoader: no item of the dataset could be loaded (first failure: {_dataset.Describe(index)}).");
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        Pipeline[] pipes;
        lock (_pipelines) pipes = _pipelines.ToArray();
        foreach (var p in pipes) p.Dispose();
    }

    /// <summary>Worker threads claim global steps in order, at most <see cref="LoaderOptions.Prefetch"/> ahead of the
    /// consumer, and park finished batches (or their exception) for <see cref="Take"/>.</summary>
    private sealed class Pipeline : IDisposable
    {
        private readonly DataLoader _owner;
        private readonly long _end;
        private readonly object _gate = new();
        private readonly Dictionary<long, (Batch? Batch, Exception? Error)> _ready = new();
        private readonly Thread[] _threads;
        private long _next;     // next step a worker may claim
        private long _consumed; // steps handed to the consumer
        private readonly int _window;
        private bool _stopped;

        public Pipeline(DataLoader owner, long first, long end)
        {
            _owner = owner;
            _end = end;
            _next = first;
            _consumed = first;
            _window = Math.Max(1, owner.Options.Prefetch);
            _threads = new Thread[owner.Options.Workers];
            for (int i = 0; i < _threads.Length; i++)
            {
                _threads[i] = new Thread(Work) { IsBackground = true, Name = $"sparkle-data-{i}" };
                _threads[i].Start();
            }
        }

        private void Work()
        {
            while (true)
            {
                long g;
                lock (_gate)
                {
                    while (!_stopped && _next < _end && _next >= _consumed + _window) Monitor.Wait(_gate);
                    if (_stopped || _next >= _end) return;
                    g = _next++;
                }
                (Batch?, Exception?) result;
                try
                {
                    int it = _owner.IterationsPerEpoch;
                    result = (_owner.GetBatch((int)(g / it), (int)(g % it)), null);
                }
                catch (Exception e)
                {
                    result = (null, e);
                }
                lock (_gate)
                {
                    _ready[g] = result;
                    Monitor.PulseAll(_gate);
                }
            }
        }

        public Batch Take(long g)
        {
            (Batch? Batch, Exception? Error) r;
            lock (_gate)
            {
                while (!_ready.ContainsKey(g))
                {
                    if (_stopped) throw new ObjectDisposedException(nameof(DataLoader));
                    Monitor.Wait(_gate);
                }
                r = _ready[g];
                _ready.Remove(g);
                _consumed = g + 1;
                Monitor.PulseAll(_gate);
            }
            if (r.Error is InvalidDataException)   // bad data (a strict ImageFolder's bad file) stays a data error for the caller
                throw new InvalidDataException($"DataLoader: making batch {g} failed: {r.Error.Message}", r.Error);
            if (r.Error is not null)
                throw new InvalidOperationException($"DataLoader: making batch {g} failed: {r.Error.Message}", r.Error);
            return r.Batch!;
        }

        public void Dispose()
        {
            lock (_gate)
            {
                if (_stopped) return;
                _stopped = true;
                Monitor.PulseAll(_gate);
            }
            foreach (var t in _threads)
                if (t != Thread.CurrentThread) t.Join();
        }
    }
}
