using System.Buffers;
using System.Numerics;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using Sparkle.Autograd;
using Sparkle.Tensors;
using Sparkle.Tensors.Cpu;

namespace Sparkle.Nn;

/// <summary>
/// Training-mode batch norm of a contiguous NCHW (or (N, C) / (N, C, L)) CPU tensor as one recorded op with a closed-form
/// backward: forward reads x three times (mean, variance, normalise) and the backward twice (Σg and Σg·(x−μ), then
/// dx = A·g + B·x + C per channel), instead of the ~20 elementwise passes of the composed version. Same numerics as the
/// composition (two-pass variance, statistics accumulated per row in T and across rows in double); channels run in
/// parallel, so results do not depend on the thread count.
/// </summary>
internal static class BatchNormFused
{
    public static bool Applies(Tensor x, Tensor? weight, Tensor? bias) =>
        x.Device == Device.Cpu && x.IsContiguous && x.DType is DType.Float32 or DType.Float64 && x.Rank >= 2
        && (weight is null || weight.DType == x.DType) && (bias is null || bias.DType == x.DType);

    public static Tensor Forward(Tensor x, Tensor? runningMean, Tensor? runningVar, Tensor? weight, Tensor? bias, double momentum, double eps)
        => x.DType == DType.Float32
            ? Forward<float>(x, runningMean, runningVar, weight, bias, momentum, eps)
            : Forward<double>(x, runningMean, runningVar, weight, bias, momentum, eps);

    private static Tensor Forward<T>(Tensor x, Tensor? runningMean, Tensor? runningVar, Tensor? weight, Tensor? bias, double momentum, double eps)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = x.Size(0), c = x.Size(1), inner = x.NumElements / Math.Max(1, n * c);
        int count = n * inner;
        var xs = Data<T>(x);
        int xOffset = x.Offset;
        var w = weight is null ? null : Contiguous<T>(weight);
        var b = bias is null ? null : Contiguous<T>(bias);
        var mean = new double[c];
        var invStd = new double[c];
        var variance = new double[c];
        var y = Tensor.Empty(x.ShapeArray(), x.DType);             // every element is written below
        var ys = Data<T>(y);
        IntraOpPool.For(c, ch =>
        {
            var tmp = ArrayPool<T>.Shared.Rent(inner);
            try
            {
                double sum = 0;
                for (int i = 0; i < n; i++) sum += double.CreateTruncating(TensorPrimitives.Sum<T>(Row(xs, xOffset, i, ch, c, inner)));
                double mu = sum / count;
                double sq = 0;
                var t = tmp.AsSpan(0, inner);
                for (int i = 0; i < n; i++)
                {
                    TensorPrimitives.Subtract(Row(xs, xOffset, i, ch, c, inner), T.CreateTruncating(mu), t);
                    sq += double.CreateTruncating(TensorPrimitives.SumOfSquares<T>(t));
                }
                double var = sq / count, istd = 1 / Math.Sqrt(var + eps);
                mean[ch] = mu; variance[ch] = var; invStd[ch] = istd;
                double scale = istd * (w is null ? 1 : double.CreateTruncating(w[ch]));
                double shift = (b is null ? 0 : double.CreateTruncating(b[ch])) - mu * scale;
                for (int i = 0; i < n; i++)
                {
                    var dst = ys.AsSpan((i * c + ch) * inner, inner);
                    TensorPrimitives.Multiply(Row(xs, xOffset, i, ch, c, inner), T.CreateTruncating(scale), dst);
                    TensorPrimitives.Add(dst, T.CreateTruncating(shift), dst);
                }
            }
            finally { ArrayPool<T>.Shared.Return(tmp); }
        });
        if (runningMean is not null && runningVar is not null)
            using (GradMode.NoGrad())
            {
                runningMean.Mul_(1 - momentum).Add_(Tensor.FromArray(mean).To(runningMean.DType), alpha: momentum);
                runningVar.Mul_(1 - momentum).Add_(Tensor.FromArray(variance).To(runningVar.DType), alpha: momentum * count / (count - 1.0));
            }
        if (!Differentiable.NeedsGrad(x, weight!, bias!)) return y;
        return Differentiable.Record("BatchNorm", y, [x, weight, bias], Backward<T>(x, weight, bias, w, mean, invStd), x);
    }

    /// <summary>The backward closure, built apart from the forward: lambdas of one method share a closure object,
    /// so a backward defined next to the forward's kernel lambda would keep the output array alive until the
    /// backward pass (an activation-sized leak per BN).</summary>
    private static BackwardFunction Backward<T>(Tensor x, Tensor? weight, Tensor? bias, T[]? w, double[] mean, double[] invStd)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = x.Size(0), c = x.Size(1), inner = x.NumElements / Math.Max(1, n * c);
        int count = n * inner;
        var xs = Data<T>(x);
        int xOffset = x.Offset;
        bool nx = x.RequiresGrad, nw = weight?.RequiresGrad == true, nb = bias?.RequiresGrad == true;
        var shape = x.ShapeArray();
        return g =>
        {
            var gc = g.Contiguous();
            var gs = Data<T>(gc);
            int gOffset = gc.Offset;
            var dw = new double[c];
            var db = new double[c];
            var dx = nx ? Tensor.Empty(shape, x.DType) : null;           // every element is written below
            var dxs = dx is null ? null : Data<T>(dx);
            IntraOpPool.For(c, ch =>
            {
                var tmp = ArrayPool<T>.Shared.Rent(inner);
                try
                {
                    var t = tmp.AsSpan(0, inner);
                    double sg = 0, sgx = 0;
                    var mu = T.CreateTruncating(mean[ch]);
                    for (int i = 0; i < n; i++)
                    {
                        var gr = Row(gs, gOffset, i, ch, c, inner);
                        sg += double.CreateTruncating(TensorPrimitives.Sum<T>(gr));
                        TensorPrimitives.Subtract(Row(xs, xOffset, i, ch, c, inner), mu, t);
                        sgx += double.CreateTruncating(TensorPrimitives.Dot<T>(gr, t));
                    }
                    double istd = invStd[ch];
                    db[ch] = sg;
                    dw[ch] = sgx * istd;                                     // Σ g·x̂
                    if (dxs is null) return;
                    double wc = w is null ? 1 : double.CreateTruncating(w[ch]);
                    // dx = w·istd·(g − mean(g) − x̂·mean(g·x̂)) = A·g + B·x + C, with x̂ = (x − μ)·istd, Σg·x̂ = istd·sgx
                    double a = wc * istd, bcoef = -wc * istd * istd * istd * sgx / count;
                    double cc = -a * sg / count - bcoef * mean[ch];
                    for (int i = 0; i < n; i++)
                    {
                        var dst = dxs.AsSpan((i * c + ch) * inner, inner);
                        TensorPrimitives.Multiply(Row(gs, gOffset, i, ch, c, inner), T.CreateTruncating(a), dst);
                        TensorPrimitives.MultiplyAdd(Row(xs, xOffset, i, ch, c, inner), T.CreateTruncating(bcoef), dst, dst);
                        TensorPrimitives.Add(dst, T.CreateTruncating(cc), dst);
                    }
                }
                finally { ArrayPool<T>.Shared.Return(tmp); }
            });
            return [dx, nw ? Tensor.FromArray(dw).To(x.DType) : null, nb ? Tensor.FromArray(db).To(x.DType) : null];
        };
    }

    private static ReadOnlySpan<T> Row<T>(T[] data, int offset, int i, int ch, int c, int inner) => data.AsSpan(offset + (i * c + ch) * inner, inner);

    private static T[] Data<T>(Tensor t) where T : unmanaged => ((CpuStorage<T>)t.Storage).Data;

    private static T[] Contiguous<T>(Tensor t) where T : unmanaged => t.Contiguous().ToArray<T>();
}
