using System.Diagnostics;
using Sparkle.Autograd;
using Sparkle.Tensors;

namespace Sparkle.Nn.Parallel;

/// <summary>
/// Averages the gradients of a parameter list over the group after a backward (DDP's all-reduce of gradients, then
/// ÷ world size). Gradients are packed into buckets of about <see cref="BucketBytes"/> (in reverse registration order,
/// the order a backward finishes them), so a ResNet's hundred small BN vectors cost a few calls instead of a hundred;
/// a gradient larger than a bucket is reduced in place without the copy. Every rank must hold the same parameters
/// with gradients (the same model and graph); a parameter without a gradient is skipped on every rank.
/// </summary>
public sealed class GradientAllReduce
{
    private readonly ICommunicator _group;
    private readonly Tensor[] _parameters;
    private float[] _bucket32 = [];
    private double[] _bucket64 = [];

    public GradientAllReduce(ICommunicator group, IEnumerable<Tensor> parameters, int bucketBytes = 8 << 20)
    {
        _group = group ?? throw new ArgumentNullException(nameof(group));
        _parameters = parameters.Where(p => p.RequiresGrad).Reverse().ToArray();
        if (bucketBytes < 1024) throw new ArgumentException($"GradientAllReduce: bucket of {bucketBytes} bytes is too small (at least 1 KiB).");
        BucketBytes = bucketBytes;
    }

    public int BucketBytes { get; }

    /// <summary>Seconds the last <see cref="Run"/> took (packing, the collectives, unpacking).</summary>
    public double LastSeconds { get; private set; }

    /// <summary>Collective calls the last <see cref="Run"/> made.</summary>
    public int LastCalls { get; private set; }

    public void Run()
    {
        if (_group.Size == 1) return;
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
            double scale = 1.0 / _group.Size;
            foreach (var p in _parameters) p.Grad?.Mul_(scale);
        }
        LastCalls = calls;
        LastSeconds = Stopwatch.GetElapsedTime(t0).TotalSeconds;
    }

    private void Flush(List<Tensor> grads, DType dtype)
    {
        int total = grads.Sum(g => g.NumElements);
        if (dtype == DType.Float32)
        {
            if (_bucket32.Length < total) _bucket32 = new float[total];
            var bucket = _bucket32.AsSpan(0, total);
            Pack(grads, bucket);
            _group.AllReduceSum(bucket);
            Unpack(grads, _bucket32, total);
        }
        else
        {
            if (_bucket64.Length < total) _bucket64 = new double[total];
            var bucket = _bucket64.AsSpan(0, total);
            Pack(grads, bucket);
            _group.AllReduceSum(bucket);
            Unpack(grads, _bucket64, total);
        }
    }

    private static void Pack<T>(List<Tensor> grads, Span<T> bucket) where T : unmanaged
    {
        int at = 0;
        foreach (var g in grads)
        {
            var host = g.Device == Device.Cpu && g.IsContiguous ? g : g.Contiguous().To(Device.Cpu);
            host.HostSpan<T>().CopyTo(bucket.Slice(at));
            at += g.NumElements;
        }
    }

    private static void Unpack<T>(List<Tensor> grads, T[] bucket, int total) where T : unmanaged
    {
        int at = 0;
        foreach (var g in grads)
        {
            if (g.Device == Device.Cpu && g.IsContiguous) bucket.AsSpan(at, g.NumElements).CopyTo(g.HostSpan<T>());
            else g.Copy_(Tensor.FromArray(bucket[at..(at + g.NumElements)], g.ShapeArray()).To(g.Device));
            at += g.NumElements;
        }
    }
}
