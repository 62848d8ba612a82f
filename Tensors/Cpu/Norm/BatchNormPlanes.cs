using System.Buffers;
using System.Numerics;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using Sparkle.Tensors.Backend;

namespace Sparkle.Tensors.Cpu.Norm;

/// <summary>
/// Training-mode batch norm of contiguous (N, C, *) planes (<see cref="BatchNormShape"/>, Inner &gt; 1): the forward reads
/// x three times (mean, variance, normalise) and the backward twice (Σg and Σg·(x−μ), then dx = A·g + B·x + C per
/// channel), instead of the ~20 elementwise passes of the composed version. Two-pass variance; statistics accumulated
/// per row of Inner elements in T and across rows in double. The activation runs on each output row as it is written,
/// and its derivative masks each gradient row as it is read. Channels run in parallel and each channel's sums run in a
/// fixed order, so results do not depend on the thread count. (Moved from Nn/Functional/BatchNormFused.cs.)
/// </summary>
internal static class BatchNormPlanes<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static void Forward(Tensor x, Tensor? weight, Tensor? bias, double eps, Activation act, Tensor y,
        Tensor saveMean, Tensor saveInvStd, Tensor? runningMean, Tensor? runningVar, double momentum, BatchNormShape s)
    {
        int n = s.Batch, c = s.Channels, inner = s.Inner, count = s.Count;
        var xs = CpuBackend.Data<T>(x);
        int xOffset = x.Offset;
        var w = weight is null ? null : CpuBackend.Data<T>(weight);
        var b = bias is null ? null : CpuBackend.Data<T>(bias);
        int wOffset = weight?.Offset ?? 0, bOffset = bias?.Offset ?? 0;
        var ys = CpuBackend.Data<T>(y);
        int yOffset = y.Offset;
        var mean = CpuBackend.Data<double>(saveMean);
        var invStd = CpuBackend.Data<double>(saveInvStd);
        int mOffset = saveMean.Offset, iOffset = saveInvStd.Offset;
        var variance = ArrayPool<double>.Shared.Rent(c);
        try
        {
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
                    mean[mOffset + ch] = mu; variance[ch] = var; invStd[iOffset + ch] = istd;
                    double scale = istd * (w is null ? 1 : double.CreateTruncating(w[wOffset + ch]));
                    double shift = (b is null ? 0 : double.CreateTruncating(b[bOffset + ch])) - mu * scale;
                    for (int i = 0; i < n; i++)
                    {
                        var dst = ys.AsSpan(yOffset + (i * c + ch) * inner, inner);
                        TensorPrimitives.Multiply(Row(xs, xOffset, i, ch, c, inner), T.CreateTruncating(scale), dst);
                        TensorPrimitives.Add(dst, T.CreateTruncating(shift), dst);
                        FusedActivation.Apply(act, dst);
                    }
                }
                finally { ArrayPool<T>.Shared.Return(tmp); }
            });
            RunningStats.Update<T>(runningMean, runningVar, mean.AsSpan(mOffset, c), variance.AsSpan(0, c), momentum, count);
        }
        finally { ArrayPool<double>.Shared.Return(variance); }
    }

    public static void Backward(Tensor gy, Tensor x, Tensor? y, Tensor? weight, Tensor saveMean, Tensor saveInvStd, Activation act,
        Tensor? gx, Tensor? gWeight, Tensor? gBias, BatchNormShape s)
    {
        int n = s.Batch, c = s.Channels, inner = s.Inner, count = s.Count;
        var xs = CpuBackend.Data<T>(x);
        var gs = CpuBackend.Data<T>(gy);
        var ys = act == Activation.None ? null : CpuBackend.Data<T>(y!);
        int xOffset = x.Offset, gOffset = gy.Offset, yOffset = y?.Offset ?? 0;
        var w = weight is null ? null : CpuBackend.Data<T>(weight);
        int wOffset = weight?.Offset ?? 0;
        var mean = CpuBackend.Data<double>(saveMean);
        var invStd = CpuBackend.Data<double>(saveInvStd);
        int mOffset = saveMean.Offset, iOffset = saveInvStd.Offset;
        var dxs = gx is null ? null : CpuBackend.Data<T>(gx);
        int dxOffset = gx?.Offset ?? 0;
        var dw = gWeight is null ? null : CpuBackend.Data<T>(gWeight);
        var db = gBias is null ? null : CpuBackend.Data<T>(gBias);
        int dwOffset = gWeight?.Offset ?? 0, dbOffset = gBias?.Offset ?? 0;
        IntraOpPool.For(c, ch =>
        {
            var tmp = ArrayPool<T>.Shared.Rent(act == Activation.None ? inner : 2 * inner);
            try
            {
                var t = tmp.AsSpan(0, inner);
                var masked = act == Activation.None ? default : tmp.AsSpan(inner, inner);
                double sg = 0, sgx = 0;
                double meanC = mean[mOffset + ch];
                var mu = T.CreateTruncating(meanC);
                for (int i = 0; i < n; i++)
                {
                    var gr = GradRow(gs, gOffset, ys, yOffset, act, masked, i, ch, c, inner);
                    sg += double.CreateTruncating(TensorPrimitives.Sum<T>(gr));
                    TensorPrimitives.Subtract(Row(xs, xOffset, i, ch, c, inner), mu, t);
                    sgx += double.CreateTruncating(TensorPrimitives.Dot<T>(gr, t));
                }
                double istd = invStd[iOffset + ch];
                if (db is not null) db[dbOffset + ch] = T.CreateTruncating(sg);
                if (dw is not null) dw[dwOffset + ch] = T.CreateTruncating(sgx * istd);   // Σ g·x̂
                if (dxs is null) return;
                double wc = w is null ? 1 : double.CreateTruncating(w[wOffset + ch]);
                // dx = w·istd·(g − mean(g) − x̂·mean(g·x̂)) = A·g + B·x + C, with x̂ = (x − μ)·istd, Σg·x̂ = istd·sgx
                double a = wc * istd, bcoef = -wc * istd * istd * istd * sgx / count;
                double cc = -a * sg / count - bcoef * meanC;
                for (int i = 0; i < n; i++)
                {
                    var dst = dxs.AsSpan(dxOffset + (i * c + ch) * inner, inner);
                    var gr = GradRow(gs, gOffset, ys, yOffset, act, masked, i, ch, c, inner);
                    TensorPrimitives.Multiply(gr, T.CreateTruncating(a), dst);
                    TensorPrimitives.MultiplyAdd(Row(xs, xOffset, i, ch, c, inner), T.CreateTruncating(bcoef), dst, dst);
                    TensorPrimitives.Add(dst, T.CreateTruncating(cc), dst);
                }
            }
            finally { ArrayPool<T>.Shared.Return(tmp); }
        });
    }

    /// <summary>Row i of channel ch of the output gradient, masked by the activation's derivative into
    /// <paramref name="masked"/> when there is one.</summary>
    private static ReadOnlySpan<T> GradRow(T[] gs, int gOffset, T[]? ys, int yOffset, Activation act, Span<T> masked, int i, int ch, int c, int inner)
    {
        var gr = Row(gs, gOffset, i, ch, c, inner);
        if (act == Activation.None) return gr;
        FusedActivation.Mask(act, gr, Row(ys!, yOffset, i, ch, c, inner), masked);
        return masked;
    }

    private static ReadOnlySpan<T> Row(T[] data, int offset, int i, int ch, int c, int inner) => data.AsSpan(offset + (i * c + ch) * inner, inner);
}
