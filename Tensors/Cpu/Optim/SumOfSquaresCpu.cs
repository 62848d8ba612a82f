using System.Numerics;

namespace Sparkle.Tensors.Cpu.Optim;

/// <summary><see cref="Backend.IBackend.SumOfSquares"/> on contiguous CPU tensors: (tensor, chunk) work items in parallel,
/// partials folded in a fixed order (deterministic for any thread count).</summary>
internal static class SumOfSquaresCpu<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static void Run(IReadOnlyList<Tensor> xs, Tensor dst)
    {
        var arrays = new T[xs.Count][];
        var lengths = new int[xs.Count];
        for (int i = 0; i < xs.Count; i++) { arrays[i] = CpuBackend.Data<T>(xs[i]); lengths[i] = xs[i].NumElements; }
        var items = OptimLoop.Items(lengths);
        var partials = new T[items.Length];
        IntraOpPool.For(items.Length, k =>
        {
            var (t, s, e) = items[k];
            int off = xs[t].Offset;
            partials[k] = SquareSum.Of(arrays[t], off + s, off + e);
        });
        var sums = SquareSum.Fold(items, partials, xs.Count);
        var d = CpuBackend.Data<T>(dst);
        if (dst.Rank == 0)
        {
            T total = T.Zero;
            for (int i = 0; i < sums.Length; i++) total = i == 0 ? sums[0] : total + sums[i];
            d[dst.Offset] = total;
        }
        else
            for (int i = 0; i < sums.Length; i++) d[dst.Offset + i * dst.Strides[0]] = sums[i];
    }
}
