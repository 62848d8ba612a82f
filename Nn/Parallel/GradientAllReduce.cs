using System.Diagnostics;
using Sparkle.Autograd;
using Sparkle.Tensors;

namespace Sparkle.Nn.Parallel;

/// <summary>
/// Averages the gradients of a parameter list over the group (DDP's all-reduce of gradients, then ÷ world size).
/// Gradients go in buckets of about <see cref="BucketBytes"/> in reverse registration order, the order a backward
/// finishes them, so a ResNet's hundred small BN vectors cost a few calls instead of a hundred. Every rank must hold
/// the same parameters with gradients (the same model and graph); a parameter without a gradient is skipped on every
/// rank alike. Two ways to run it, with the same sums:
/// <list type="bullet">
/// <item>Synchronous: <see cref="Run"/> after the backward (blocking calls; a gradient larger than a bucket is reduced in
/// place without the copy).</item>
/// <item>Overlapped (DDP's Reducer): the backward runs inside <see cref="Overlap"/>. The buckets are fixed at
/// construction; the engine says when each gradient is final (<see cref="IBackwardObserver"/>), and when the last
/// gradient of a bucket is, the bucket is packed into its pinned buffer and its nonblocking sum starts, while the
/// backward goes on; between nodes the collectives in flight are tested, which is what moves them on. Bucket k starts
/// only after buckets 0..k-1 (every rank must start the same collectives in the same order). <see cref="Run"/> then
/// starts what is left (buckets with a parameter the backward never reached), waits for all, unpacks and scales.</item>
/// </list>
/// </summary>
public sealed class GradientAllReduce : IBackwardObserver
{
    private readonly ICommunicator _group;
    private readonly Tensor[] _parameters;
    private readonly GradientBucket[] _buckets;
    private readonly Dictionary<Tensor, (GradientBucket Bucket, int Index)> _slots = new(ReferenceEqualityComparer.Instance);
    private readonly bool[] _final;
    private readonly List<int> _startNodes = [];
    private float[] _bucket32 = [];
    private double[] _bucket64 = [];
    private bool _overlapping;
    private int _nextStart, _nextTest, _nodes, _calls, _startedInBackward;
    private long _backwardTicks;

    public GradientAllReduce(ICommunicator group, IEnumerable<Tensor> parameters, int bucketBytes = 8 << 20)
    {
        _group = group ?? throw new ArgumentNullException(nameof(group));
        _parameters = parameters.Where(p => p.RequiresGrad).Distinct(ReferenceEqualityComparer.Instance).Cast<Tensor>().Reverse().ToArray();
        if (bucketBytes < 1024) throw new ArgumentException($"GradientAllReduce: bucket of {bucketBytes} bytes is too small (at least 1 KiB).");
        BucketBytes = bucketBytes;
        _buckets = FixBuckets();
        _final = new bool[_parameters.Length];
        var bucketOf = new Dictionary<Tensor, GradientBucket>(ReferenceEqualityComparer.Instance);
        foreach (var b in _buckets)
            foreach (var p in b.Parameters) bucketOf[p] = b;
        for (int i = 0; i < _parameters.Length; i++) _slots[_parameters[i]] = (bucketOf[_parameters[i]], i);
    }

    public int BucketBytes { get; }

    /// <summary>The fixed buckets of the overlapped path.</summary>
    public int Buckets => _buckets.Length;

    /// <summary>Seconds the all-reduce's own code took on this thread in the last step: the whole <see cref="Run"/> when
    /// synchronous; when overlapped, the starts and tests inside the backward plus <see cref="Run"/> after it.</summary>
    public double LastSeconds { get; private set; }

    /// <summary>Seconds the last step waited for the gradients after its backward (the last <see cref="Run"/>: starting
    /// what was left, waiting, unpacking, scaling). What the backward did not hide; all of it when synchronous.</summary>
    public double LastExposedSeconds { get; private set; }

    /// <summary>Collective calls the last step made.</summary>
    public int LastCalls { get; private set; }

    /// <summary>Buckets the last overlapped step started while its backward ran (0 when synchronous).</summary>
    public int LastStartedInBackward { get; private set; }

    /// <summary>For each bucket the last overlapped step started, how many backward nodes had finished before it started
    /// (in start order), and how many the backward ran in all (<see cref="LastBackwardNodes"/>): where in the backward
    /// the collectives began.</summary>
    public IReadOnlyList<int> LastStartNodes => _startNodes;
    public int LastBackwardNodes { get; private set; }

    /// <summary>Observes the backward run inside the scope: each bucket's sum starts as soon as its gradients are
    /// final. Call <see cref="Run"/> after the backward to finish. A group of one process does nothing.</summary>
    public BackwardObserver.Scope Overlap()
    {
        if (_group.Size == 1) return BackwardObserver.Use(BackwardObserver.Current);
        foreach (var b in _buckets) b.Reset();
        Array.Clear(_final);
        _startNodes.Clear();
        (_nextStart, _nextTest, _nodes, _calls, _startedInBackward, _backwardTicks) = (0, 0, 0, 0, 0, 0);
        _overlapping = true;
        return BackwardObserver.Use(this);
    }

    /// <summary>After the backward: averages the gradients (finishing the overlapped collectives when the backward ran
    /// inside <see cref="Overlap"/>, else all of it now, synchronously).</summary>
    public void Run()
    {
        if (_group.Size == 1) return;
        if (_overlapping) FinishOverlapped();
        else RunSynchronous();
    }

    void IBackwardObserver.LeafGradientFinal(Tensor leaf)
    {
        if (!_overlapping || !_slots.TryGetValue(leaf, out var slot)) return;
        if (slot.Bucket.Started)
            throw new InvalidOperationException("GradientAllReduce.Overlap: a second backward in one overlap scope added to a gradient whose bucket was already sent; run one backward per scope (accumulate over micro-batches without the overlap).");
        if (_final[slot.Index]) return;        // final again in a second backward: its bucket has not started, it still waits
        _final[slot.Index] = true;
        slot.Bucket.Unfinished--;
        long t0 = Stopwatch.GetTimestamp();
        StartReady(inBackward: true);
        _backwardTicks += Stopwatch.GetTimestamp() - t0;
    }

    void IBackwardObserver.BetweenNodes()
    {
        if (!_overlapping) return;
        _nodes++;
        if (_nextTest == _nextStart) return;
        long t0 = Stopwatch.GetTimestamp();
        // MPI moves a nonblocking collective on only inside MPI calls: testing the oldest one in flight does it for all.
        while (_nextTest < _nextStart && _buckets[_nextTest].Test()) _nextTest++;
        _backwardTicks += Stopwatch.GetTimestamp() - t0;
    }

    /// <summary>Starts, in order, the buckets whose gradients are all final (bucket k only after 0..k-1).</summary>
    private void StartReady(bool inBackward)
    {
        while (_nextStart < _buckets.Length && (!inBackward || _buckets[_nextStart].Unfinished == 0))
        {
            _startNodes.Add(_nodes);
            if (_buckets[_nextStart++].Start(_group)) _calls++;
            if (inBackward) _startedInBackward++;
        }
    }

    private void FinishOverlapped()
    {
        long t0 = Stopwatch.GetTimestamp();
        using (GradMode.NoGrad())
        {
            StartReady(inBackward: false);
            foreach (var b in _buckets) b.Finish();
            Scale();
        }
        _overlapping = false;
        LastExposedSeconds = Stopwatch.GetElapsedTime(t0).TotalSeconds;
        LastSeconds = LastExposedSeconds + Stopwatch.GetElapsedTime(0, _backwardTicks).TotalSeconds;
        LastCalls = _calls;
        LastStartedInBackward = _startedInBackward;
        LastBackwardNodes = _nodes;
    }

    private void Scale()
    {
        double scale = 1.0 / _group.Size;
        foreach (var p in _parameters) p.Grad?.Mul_(scale);
    }

    /// <summary>The overlapped path's buckets: same-dtype gradients in reverse registration order, up to BucketBytes each
    /// (one of its own for a larger gradient), started in the order their last gradient comes in the backward.</summary>
    private GradientBucket[] FixBuckets()
    {
        var buckets = new List<(GradientBucket Bucket, int Last)>();
        var open = new Dictionary<DType, int>();
        for (int i = 0; i < _parameters.Length; i++)
        {
            var p = _parameters[i];
            long size = (long)p.NumElements * p.DType.SizeOf();
            if (size >= BucketBytes || !open.TryGetValue(p.DType, out int at) || buckets[at].Bucket.Bytes + size > BucketBytes)
            {
                buckets.Add((new GradientBucket(p.DType), i));
                at = buckets.Count - 1;
                if (size < BucketBytes) open[p.DType] = at;
            }
            buckets[at].Bucket.Add(p);
            buckets[at] = (buckets[at].Bucket, i);
        }
        return buckets.OrderBy(b => b.Last).Select(b => b.Bucket).ToArray();
    }

    private void RunSynchronous()
    {
        long t0 = Stopwatch.GetTimestamp();
        int calls = 0;
        using (GradMode.NoGrad())
        {
            foreach (var dtype in new[] { DType.Float32, DType.Float64 })
            {
                var pending = new List<Tensor>();
                long bytes = 0;
                foreach (var p in _parameters)
                {
                    if (p.Grad is not { } g || g.DType != dtype) continue;
                    long size = (long)g.NumElements * dtype.SizeOf();
                    if (size >= BucketBytes && g.Device == Device.Cpu && g.IsContiguous)
                    {
                        _group.AllReduceSum(g);                  // big enough on its own: no packing copy
                        calls++;
                        continue;
                    }
                    if (bytes + size > BucketBytes && pending.Count > 0) { Flush(pending, dtype); calls++; pending.Clear(); bytes = 0; }
                    pending.Add(g);
                    bytes += size;
                }
                if (pending.Count > 0) { Flush(pending, dtype); calls++; }
            }
            Scale();
        }
        LastCalls = calls;
        LastStartedInBackward = 0;
        LastSeconds = LastExposedSeconds = Stopwatch.GetElapsedTime(t0).TotalSeconds;
    }

    private void Flush(List<Tensor> grads, DType dtype)
    {
        int total = grads.Sum(g => g.NumElements);
        if (dtype == DType.Float32)
        {
            if (_bucket32.Length < total) _bucket32 = new float[total];
            var bucket = _bucket32.AsSpan(0, total);
            GradientBucket.Pack(grads, bucket);
            _group.AllReduceSum(bucket);
            GradientBucket.Unpack(grads, _bucket32, total);
        }
        else
        {
            if (_bucket64.Length < total) _bucket64 = new double[total];
            var bucket = _bucket64.AsSpan(0, total);
            GradientBucket.Pack(grads, bucket);
            _group.AllReduceSum(bucket);
            GradientBucket.Unpack(grads, _bucket64, total);
        }
    }
}
