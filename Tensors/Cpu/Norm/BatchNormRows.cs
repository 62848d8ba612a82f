using System.Buffers;
using System.Numerics;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using Sparkle.Tensors.Backend;

namespace Sparkle.Tensors.Cpu.Norm;

/// <summary>
/// Training-mode batch norm of a contiguous (n, C) rows matrix (channels last: one row per site, e.g. the sparse
/// encoder's active sites, SPARK.md §1.4). SIMD runs across the channels of a row; the statistics are summed in T over
/// fixed chunks of <see cref="ChunkRows"/> rows (in parallel) and the chunks then added in order, so results do not
/// depend on the thread count. The mean and 1/sqrt(var + eps) are computed in T, as the sparse kernel this comes from
/// (Sparse/SparseOps.BatchNorm.cs), and saved as float64 (exactly). The activation runs on each output row as it is
/// written; its derivative masks each gradient row as it is read.
/// </summary>
internal static class BatchNormRows<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private const int ChunkRows = 256;
    private const int RowGrain = 64;

    public static void Forward(Tensor x, Tensor? weight, Tensor? bias, double eps, Activation act, Tensor y,
        Tensor saveMean, Tensor saveInvStd, Tensor? runningMean, Tensor? runningVar, double momentum, BatchNormShape s)
    {
        int n = s.Batch, c = s.Channels;
        var xr = CpuBackend.Data<T>(x).AsMemory(x.Offset, n * c);
        var yr = CpuBackend.Data<T>(y).AsMemory(y.Offset, n * c);
        var mean = new T[c];
        var variance = new T[c];
        var scale = new T[c];
        var shift = new T[c];
        ColumnMean(xr, n, c, null, mean);
        ColumnMean(xr, n, c, mean, variance);        // biased
        var gamma = weight is null ? default : CpuBackend.Data<T>(weight).AsSpan(weight.Offset, c);
        var beta = bias is null ? default : CpuBackend.Data<T>(bias).AsSpan(bias.Offset, c);
        var sm = CpuBackend.Data<double>(saveMean).AsSpan(saveMean.Offset, c);
        var si = CpuBackend.Data<double>(saveInvStd).AsSpan(saveInvStd.Offset, c);
        // y = x·scale + shift with scale = γ·invStd, shift = β − mean·scale.
        for (int k = 0; k < c; k++)
        {
            T invStd = T.One / T.Sqrt(variance[k] + T.CreateTruncating(eps));
            scale[k] = (weight is null ? T.One : gamma[k]) * invStd;
            shift[k] = (bias is null ? T.Zero : beta[k]) - mean[k] * scale[k];
            sm[k] = double.CreateTruncating(mean[k]);
            si[k] = double.CreateTruncating(invStd);
        }
        IntraOpPool.ForRange(n, RowGrain, (r0, r1) =>
        {
            var xs = xr.Span;
            var ys = yr.Span;
            for (int r = r0; r < r1; r++)
            {
                var row = ys.Slice(r * c, c);
                TensorPrimitives.FusedMultiplyAdd(xs.Slice(r * c, c), scale, shift, row);
                FusedActivation.Apply(act, row);
            }
        });
        RunningStats.Update<T>(runningMean, runningVar, mean, variance, momentum, n);
    }

    public static void Backward(Tensor gy, Tensor x, Tensor? y, Tensor? weight, Tensor saveMean, Tensor saveInvStd, Activation act,
        Tensor? gx, Tensor? gWeight, Tensor? gBias, BatchNormShape s)
    {
        int n = s.Batch, c = s.Channels;
        var xr = CpuBackend.Data<T>(x).AsMemory(x.Offset, n * c);
        var dyr = CpuBackend.Data<T>(gy).AsMemory(gy.Offset, n * c);
        var yr = act == Activation.None ? default : CpuBackend.Data<T>(y!).AsMemory(y!.Offset, n * c);
        var mean = new T[c];
        var invStd = new T[c];
        var sm = CpuBackend.Data<double>(saveMean).AsSpan(saveMean.Offset, c);
        var si = CpuBackend.Data<double>(saveInvStd).AsSpan(saveInvStd.Offset, c);
        for (int k = 0; k < c; k++) { mean[k] = T.CreateTruncating(sm[k]); invStd[k] = T.CreateTruncating(si[k]); }
        // Σ dy and Σ dy·x̂ per channel (fixed row chunks, summed in order).
        var sdy = new T[c];
        var sdyx = new T[c];
        DySums(xr, dyr, yr, act, n, c, mean, invStd, sdy, sdyx);
        if (gWeight is not null) sdyx.CopyTo(CpuBackend.Data<T>(gWeight).AsSpan(gWeight.Offset, c));
        if (gBias is not null) sdy.CopyTo(CpuBackend.Data<T>(gBias).AsSpan(gBias.Offset, c));
        if (gx is null) return;
        var k1 = new T[c];
        var a = new T[c];
        var bco = new T[c];
        var gamma = weight is null ? default : CpuBackend.Data<T>(weight).AsSpan(weight.Offset, c);
        T nn = T.CreateTruncating(n);
        for (int k = 0; k < c; k++)
        {
            k1[k] = (weight is null ? T.One : gamma[k]) * invStd[k];
            a[k] = sdy[k] / nn;
            bco[k] = invStd[k] * sdyx[k] / nn;
        }
        var dxr = CpuBackend.Data<T>(gx).AsMemory(gx.Offset, n * c);
        IntraOpPool.ForRange(n, RowGrain, (r0, r1) =>
        {
            var tmp = ArrayPool<T>.Shared.Rent(2 * c);
            try
            {
                var t = tmp.AsSpan(0, c);
                var masked = tmp.AsSpan(c, c);
                var xs = xr.Span;
                var dys = dyr.Span;
                var dxs = dxr.Span;
                for (int r = r0; r < r1; r++)
                {
                    var d = dxs.Slice(r * c, c);
                    var dy = GradRow(dys, yr.Span, act, masked, r, c);
                    // dx = k1·(dy − a − (x − mean)·invStd·sdyx/n)
                    TensorPrimitives.Subtract(xs.Slice(r * c, c), mean, t);
                    TensorPrimitives.Multiply(t, bco, t);
                    TensorPrimitives.Subtract(dy, t, d);
                    TensorPrimitives.Subtract(d, a, d);
                    TensorPrimitives.Multiply(d, k1, d);
                }
            }
            finally { ArrayPool<T>.Shared.Return(tmp); }
        });
    }

    /// <summary>Per-channel mean of the rows into <paramref name="result"/>, or (with <paramref name="center"/>) the mean
    /// of (x − center)².</summary>
    private static void ColumnMean(ReadOnlyMemory<T> xr, int n, int c, T[]? center, T[] result)
    {
        int chunks = Math.Max(1, (n + ChunkRows - 1) / ChunkRows);
        var partial = ArrayPool<T>.Shared.Rent(chunks * c);   // every chunk clears its own slice
        try
        {
            IntraOpPool.For(chunks, ch =>
            {
                var p = partial.AsSpan(ch * c, c);
                p.Clear();
                var tmp = center is null ? null : ArrayPool<T>.Shared.Rent(c);
                var xs = xr.Span;
                int r1 = Math.Min(n, (ch + 1) * ChunkRows);
                for (int r = ch * ChunkRows; r < r1; r++)
                {
                    var row = xs.Slice(r * c, c);
                    if (tmp is null) TensorPrimitives.Add(p, row, p);
                    else
                    {
                        var t = tmp.AsSpan(0, c);
                        TensorPrimitives.Subtract(row, center, t);
                        TensorPrimitives.FusedMultiplyAdd(t, t, p, p);
                    }
                }
                if (tmp is not null) ArrayPool<T>.Shared.Return(tmp);
            });
            Array.Clear(result);
            for (int ch = 0; ch < chunks; ch++) TensorPrimitives.Add(result, partial.AsSpan(ch * c, c), result);
        }
        finally { ArrayPool<T>.Shared.Return(partial); }
        TensorPrimitives.Divide(result, T.CreateTruncating(n), result);
    }

    /// <summary>Σ dy' and Σ dy'·x̂ per channel, dy' the activation-masked gradient.</summary>
    private static void DySums(ReadOnlyMemory<T> xr, ReadOnlyMemory<T> dyr, ReadOnlyMemory<T> yr, Activation act, int n, int c,
        T[] mean, T[] invStd, T[] sdy, T[] sdyx)
    {
        int chunks = Math.Max(1, (n + ChunkRows - 1) / ChunkRows);
        var p1 = ArrayPool<T>.Shared.Rent(chunks * c);   // every chunk clears its own slices
        var p2 = ArrayPool<T>.Shared.Rent(chunks * c);
        try
        {
            IntraOpPool.For(chunks, ch =>
            {
                var a = p1.AsSpan(ch * c, c);
                var b = p2.AsSpan(ch * c, c);
                a.Clear();
                b.Clear();
                var tmp = ArrayPool<T>.Shared.Rent(2 * c);
                var t = tmp.AsSpan(0, c);
                var masked = tmp.AsSpan(c, c);
                var xs = xr.Span;
                var dys = dyr.Span;
                int r1 = Math.Min(n, (ch + 1) * ChunkRows);
                for (int r = ch * ChunkRows; r < r1; r++)
                {
                    var dy = GradRow(dys, yr.Span, act, masked, r, c);
                    TensorPrimitives.Add(a, dy, a);
                    TensorPrimitives.Subtract(xs.Slice(r * c, c), mean, t);
                    TensorPrimitives.FusedMultiplyAdd(t, dy, b, b);
                }
                ArrayPool<T>.Shared.Return(tmp);
            });
            for (int ch = 0; ch < chunks; ch++)
            {
                TensorPrimitives.Add(sdy, p1.AsSpan(ch * c, c), sdy);
                TensorPrimitives.Add(sdyx, p2.AsSpan(ch * c, c), sdyx);
            }
        }
        finally
        {
            ArrayPool<T>.Shared.Return(p1);
            ArrayPool<T>.Shared.Return(p2);
        }
        TensorPrimitives.Multiply(sdyx, invStd, sdyx);
    }

    private static ReadOnlySpan<T> GradRow(ReadOnlySpan<T> dys, ReadOnlySpan<T> ys, Activation act, Span<T> masked, int r, int c)
    {
        var dy = dys.Slice(r * c, c);
        if (act == Activation.None) return dy;
        FusedActivation.Mask(act, dy, ys.Slice(r * c, c), masked);
        return masked;
    }
}
