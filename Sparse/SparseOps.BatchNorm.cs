using System.Numerics;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using Sparkle.Autograd;
using Sparkle.Tensors.Backend;
using Sparkle.Tensors.Cpu.Sparse;
using Sparkle.Tensors;
using Sparkle.Tensors.Cpu;

namespace Sparkle.Sparse;

public static partial class SparseOps
{
    private const int BnChunkRows = 256;

    /// <summary>
    /// SparK's SparseBatchNorm2d (SPARK.md §1.4): batch statistics over active sites only (n = their count), biased
    /// variance for normalising, running_var updated with var·n/(n−1); evaluation uses the running statistics. Masked
    /// outputs are zero. Running statistics are updated in place (when given and training).
    /// </summary>
    public static Tensor BatchNorm2d(Tensor input, Tensor? runningMean, Tensor? runningVar, Tensor? weight, Tensor? bias,
        bool training, double momentum = 0.1, double eps = 1e-5, SparseContext? context = null)
    {
        const string op = "SparseBatchNorm2d";
        var ctx = context ?? SparseContext.Require(op);
        if (input.Rank != 4) throw new ArgumentException($"{op}: expected (N, C, H, W) input, got {ShapeUtil.Format(input.Shape)}.");
        if (input.Size(0) != ctx.Mask.Batch)
            throw new ArgumentException($"{op}: input batch {input.Size(0)} differs from the mask's batch {ctx.Mask.Batch}.");
        var sites = ctx.Sites(input.Size(2), input.Size(3)).On(Device.Cpu);
        return input.DType switch
        {
            DType.Float32 => BatchNormT<float>(input, sites, runningMean, runningVar, weight, bias, training, momentum, eps),
            DType.Float64 => BatchNormT<double>(input, sites, runningMean, runningVar, weight, bias, training, momentum, eps),
            _ => throw new InvalidOperationException($"{op} needs float32 or float64, got {input.DType.Name()}."),
        };
    }

    private static Tensor BatchNormT<T>(Tensor input, SparseSites sites, Tensor? runningMean, Tensor? runningVar, Tensor? weight, Tensor? bias,
        bool training, double momentum, double eps) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int c = input.Size(1), n = sites.Count;
        bool cl = RowIO.IsChannelsLast(input);
        bool batchStats = training || runningMean is null || runningVar is null;
        if (batchStats && n <= 1)
            throw new ArgumentException($"SparseBatchNorm2d: expected more than 1 active site per channel when training, got {n} (input {ShapeUtil.Format(input.Shape)}).");
        // The gathered rows are saved for the backward: then they live in a tensor from the TensorPool (recycled once
        // the graph is dropped; the backward closure holds the tensor, not just its array), otherwise in scratch.
        bool needsGrad = Differentiable.NeedsGrad(input, weight, bias);
        var xrT = needsGrad ? Tensor.Empty([Math.Max(1, n * c)], DTypes.Of<T>()) : null;
        var xr = xrT is null ? Scratch.Rent<T>(n * c) : RowIO.Data<T>(xrT);   // a fresh 1-D tensor: offset 0
        RowIO.Gather(input, sites, xr);
        T[] mean, invStd;
        if (batchStats)
        {
            mean = ColumnMean(xr, n, c, null);
            var variance = ColumnMean(xr, n, c, mean); // biased
            invStd = new T[c];
            for (int k = 0; k < c; k++) invStd[k] = T.One / T.Sqrt(variance[k] + T.CreateTruncating(eps));
            if (training && runningMean is not null && runningVar is not null)
                using (GradMode.NoGrad())
                {
                    runningMean.Mul_(1 - momentum).Add_(Tensor.FromArray(mean).To(runningMean.DType), alpha: momentum);
                    runningVar.Mul_(1 - momentum).Add_(Tensor.FromArray(variance).To(runningVar.DType), alpha: momentum * n / (n - 1.0));
                }
        }
        else
        {
            mean = runningMean!.To(DTypes.Of<T>()).Contiguous().ToArray<T>();
            var rv = runningVar!.To(DTypes.Of<T>()).Contiguous().ToArray<T>();
            invStd = new T[c];
            for (int k = 0; k < c; k++) invStd[k] = T.One / T.Sqrt(rv[k] + T.CreateTruncating(eps));
        }
        var gamma = weight?.To(DTypes.Of<T>()).Contiguous().ToArray<T>();
        var beta = bias?.To(DTypes.Of<T>()).Contiguous().ToArray<T>();
        // y = x·scale + shift with scale = γ·invStd, shift = β − mean·scale.
        var scale = new T[c];
        var shift = new T[c];
        for (int k = 0; k < c; k++)
        {
            scale[k] = (gamma is null ? T.One : gamma[k]) * invStd[k];
            shift[k] = (beta is null ? T.Zero : beta[k]) - mean[k] * scale[k];
        }
        var yr = Scratch.Rent<T>(Math.Max(1, n * c));
        Tensor y;
        try
        {
            IntraOpPool.ForRange(n, 64, (r0, r1) =>
            {
                for (int r = r0; r < r1; r++)
                    TensorPrimitives.FusedMultiplyAdd(xr.AsSpan(r * c, c), scale, shift, yr.AsSpan(r * c, c));
            });
            y = RowIO.Scatter(yr, sites, c, cl);
        }
        finally
        {
            Scratch.Return(yr);
            if (xrT is null) Scratch.Return(xr);
        }

        if (xrT is null) return y;
        bool gx = input.RequiresGrad, gg = weight?.RequiresGrad == true, gbt = bias?.RequiresGrad == true;
        // The backward reads the gathered rows only: listing the input as saved would keep a dense activation (the
        // sparse conv output nothing else keeps) alive until the backward for nothing.
        return Differentiable.Record("SparseBatchNorm2d", y, [input, weight, bias],
            gy => BatchNormBackward(gy, sites, c, cl, batchStats, xrT, mean, invStd, gamma, gx, gg, gbt), xrT);
    }

    private static Tensor?[] BatchNormBackward<T>(Tensor gy, SparseSites sites, int c, bool cl, bool batchStats, Tensor xrT, T[] mean, T[] invStd,
        T[]? gamma, bool gx, bool gg, bool gb) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = sites.Count;
        var xr = RowIO.Data<T>(xrT);
        var dyr = Scratch.Rent<T>(n * c);
        try
        {
        RowIO.Gather(gy, sites, dyr);
        // Σ dy and Σ dy·x̂ per channel (fixed row chunks, summed in order).
        var (sdy, sdyx) = DySums(xr, dyr, n, c, mean, invStd);
        Tensor? dx = null, dgamma = null, dbeta = null;
        if (gx)
        {
            var k1 = new T[c];
            var a = new T[c];
            var bco = new T[c];
            T nn = T.CreateTruncating(n);
            for (int k = 0; k < c; k++)
            {
                k1[k] = (gamma is null ? T.One : gamma[k]) * invStd[k];
                a[k] = batchStats ? sdy[k] / nn : T.Zero;
                bco[k] = batchStats ? invStd[k] * sdyx[k] / nn : T.Zero;
            }
            var dxr = Scratch.Rent<T>(Math.Max(1, n * c));
            try
            {
                IntraOpPool.ForRange(n, 64, (r0, r1) =>
                {
                    Span<T> tmp = c <= 1024 ? stackalloc T[c] : new T[c];
                    for (int r = r0; r < r1; r++)
                    {
                        var d = dxr.AsSpan(r * c, c);
                        // dx = k1·(dy − a − (x − mean)·invStd·sdyx/n)
                        TensorPrimitives.Subtract(xr.AsSpan(r * c, c), mean, tmp);
                        TensorPrimitives.Multiply(tmp, bco, tmp);
                        TensorPrimitives.Subtract(dyr.AsSpan(r * c, c), tmp, d);
                        TensorPrimitives.Subtract(d, a, d);
                        TensorPrimitives.Multiply(d, k1, d);
                    }
                });
                dx = RowIO.Scatter(dxr, sites, c, cl);
            }
            finally { Scratch.Return(dxr); }
        }
        if (gg) dgamma = Tensor.FromArray(sdyx, [c]);
        if (gb) dbeta = Tensor.FromArray(sdy, [c]);
        GC.KeepAlive(xrT);   // its array was read above; the storage must not be recycled before
        return [dx, dgamma, dbeta];
        }
        finally { Scratch.Return(dyr); }
    }

    /// <summary>Per-channel mean of the rows, or (with <paramref name="center"/>) the mean of (x − center)².</summary>
    private static T[] ColumnMean<T>(T[] xr, int n, int c, T[]? center) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int chunks = Math.Max(1, (n + BnChunkRows - 1) / BnChunkRows);
        var partial = Scratch.Rent<T>(chunks * c);   // every chunk clears its own slice
        IntraOpPool.For(chunks, ch =>
        {
            var p = partial.AsSpan(ch * c, c);
            p.Clear();
            Span<T> tmp = center is null ? default : c <= 1024 ? stackalloc T[c] : new T[c];
            int r1 = Math.Min(n, (ch + 1) * BnChunkRows);
            for (int r = ch * BnChunkRows; r < r1; r++)
            {
                var row = xr.AsSpan(r * c, c);
                if (center is null) TensorPrimitives.Add(p, row, p);
                else
                {
                    TensorPrimitives.Subtract(row, center, tmp);
                    TensorPrimitives.FusedMultiplyAdd(tmp, tmp, p, p);
                }
            }
        });
        var s = new T[c];
        for (int ch = 0; ch < chunks; ch++) TensorPrimitives.Add(s, partial.AsSpan(ch * c, c), s);
        Scratch.Return(partial);
        TensorPrimitives.Divide(s, T.CreateTruncating(n), s);
        return s;
    }

    private static (T[] Sdy, T[] Sdyx) DySums<T>(T[] xr, T[] dyr, int n, int c, T[] mean, T[] invStd) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int chunks = Math.Max(1, (n + BnChunkRows - 1) / BnChunkRows);
        var p1 = Scratch.Rent<T>(chunks * c);   // every chunk clears its own slices
        var p2 = Scratch.Rent<T>(chunks * c);
        IntraOpPool.For(chunks, ch =>
        {
            var a = p1.AsSpan(ch * c, c);
            var b = p2.AsSpan(ch * c, c);
            a.Clear();
            b.Clear();
            Span<T> tmp = c <= 1024 ? stackalloc T[c] : new T[c];
            int r1 = Math.Min(n, (ch + 1) * BnChunkRows);
            for (int r = ch * BnChunkRows; r < r1; r++)
            {
                var dy = dyr.AsSpan(r * c, c);
                TensorPrimitives.Add(a, dy, a);
                TensorPrimitives.Subtract(xr.AsSpan(r * c, c), mean, tmp);
                TensorPrimitives.FusedMultiplyAdd(tmp, dy, b, b);
            }
        });
        var sdy = new T[c];
        var sdyx = new T[c];
        for (int ch = 0; ch < chunks; ch++)
        {
            TensorPrimitives.Add(sdy, p1.AsSpan(ch * c, c), sdy);
            TensorPrimitives.Add(sdyx, p2.AsSpan(ch * c, c), sdyx);
        }
        Scratch.Return(p1);
        Scratch.Return(p2);
        TensorPrimitives.Multiply(sdyx, invStd, sdyx);
        return (sdy, sdyx);
    }
}
