using Sparkle.Tensors;

namespace Sparkle.Nn.Parallel;

/// <summary>
/// A fixed set of same-dtype gradients that the overlapped <see cref="GradientAllReduce"/> sums with one nonblocking
/// collective. It owns its pinned buffer (the library writes it after the starting call returned) and reuses it every
/// step. A parameter without a gradient when the bucket starts is left out (every rank has the same graph, so every
/// rank leaves out the same ones), exactly as the synchronous path skips it.
/// </summary>
internal sealed class GradientBucket(DType dtype)
{
    private readonly List<Tensor> _parameters = [];
    private readonly List<Tensor> _packed = [];
    private PinnedBuffer<float>? _float32;
    private PinnedBuffer<double>? _float64;
    private ICollectiveRequest? _request;

    public DType DType { get; } = dtype;

    public IReadOnlyList<Tensor> Parameters => _parameters;

    public long Bytes { get; private set; }

    /// <summary>Parameters whose gradient is not final yet in this backward.</summary>
    public int Unfinished { get; set; }

    /// <summary>Started in this step (its collective may still be in flight).</summary>
    public bool Started => _request is not null;

    public void Add(Tensor parameter)
    {
        _parameters.Add(parameter);
        Bytes += (long)parameter.NumElements * DType.SizeOf();
    }

    /// <summary>Ready for a new backward: every gradient unfinished, nothing started. A collective still in flight
    /// from a step that failed before its end is completed first: its buffer is reused.</summary>
    public void Reset()
    {
        _request?.Wait();
        _request = null;
        _packed.Clear();
        Unfinished = _parameters.Count;
    }

    /// <summary>Packs the gradients there are and starts their sum; false when there were none (no call: every rank
    /// has none alike).</summary>
    public bool Start(ICommunicator group)
    {
        _packed.Clear();
        foreach (var p in _parameters)
            if (p.Grad is { } g) _packed.Add(g);
        int count = _packed.Sum(g => g.NumElements);
        if (count == 0)
        {
            _request = CompletedRequest.Instance;
            return false;
        }
        int capacity = (int)(Bytes / DType.SizeOf());
        if (DType == DType.Float32)
        {
            _float32 ??= new PinnedBuffer<float>(capacity);
            Pack(_packed, _float32.Span);
            _request = group.StartAllReduceSum(_float32, count);
        }
        else
        {
            _float64 ??= new PinnedBuffer<double>(capacity);
            Pack(_packed, _float64.Span);
            _request = group.StartAllReduceSum(_float64, count);
        }
        return true;
    }

    /// <summary>Progresses the collective; true once it has completed.</summary>
    public bool Test() => _request?.Test() ?? throw new InvalidOperationException("GradientBucket.Test before Start.");

    /// <summary>Waits for the sum and writes it back into the gradients it was packed from.</summary>
    public void Finish()
    {
        var request = _request ?? throw new InvalidOperationException("GradientBucket.Finish before Start.");
        request.Wait();
        int total = _packed.Sum(g => g.NumElements);
        if (total == 0) return;
        if (DType == DType.Float32) Unpack(_packed, _float32!.Array, total);
        else Unpack(_packed, _float64!.Array, total);
    }

    /// <summary>The gradients, one after the other, into <paramref name="bucket"/> (a device or strided gradient through
    /// a contiguous host copy).</summary>
    public static void Pack<T>(List<Tensor> grads, Span<T> bucket) where T : unmanaged
    {
        int at = 0;
        foreach (var g in grads)
        {
            var host = g.Device == Device.Cpu && g.IsContiguous ? g : g.Contiguous().To(Device.Cpu);
            host.HostSpan<T>().CopyTo(bucket.Slice(at));
            at += g.NumElements;
        }
    }

    public static void Unpack<T>(List<Tensor> grads, T[] bucket, int total) where T : unmanaged
    {
        int at = 0;
        foreach (var g in grads)
        {
            if (g.Device == Device.Cpu && g.IsContiguous) bucket.AsSpan(at, g.NumElements).CopyTo(g.HostSpan<T>());
            else g.Copy_(Tensor.FromArray(bucket[at..(at + g.NumElements)], g.ShapeArray()).To(g.Device));
            at += g.NumElements;
        }
        if (at != total) throw new InvalidOperationException($"GradientBucket: unpacked {at} of {total} values.");
    }
}
