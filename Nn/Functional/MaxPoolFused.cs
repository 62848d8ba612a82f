using System.Numerics;
using Sparkle.Autograd;
using Sparkle.Tensors;
using Sparkle.Tensors.Cpu;

namespace Sparkle.Nn;

/// <summary>
/// max_pool2d of a contiguous NCHW float CPU tensor as one recorded op: one pass over each window writes the maximum and
/// the winner's offset in its input plane (int32, the only thing the backward keeps); the backward adds each output
/// gradient at that offset. The composed version (k² strided copies, a max, an int64 argmax, and k² select-and-add
/// passes back) cost ~0.3 s per backward on SparK R18's stem. Same winner as torch's CPU kernel and the composed
/// path: the first maximum in row-major window order, and a NaN wins over numbers (propagates). Planes run in parallel
/// and each writes only its own plane, so results do not depend on the thread count.
/// </summary>
internal static class MaxPoolFused
{
    public static bool Applies(Tensor x) =>
        x.Device == Device.Cpu && x.IsContiguous && x.Rank == 4 && x.DType is DType.Float32 or DType.Float64;

    public static Tensor Forward(Tensor x, int kernel, int stride, int padding, int outHeight, int outWidth)
        => x.DType == DType.Float32
            ? Forward<float>(x, kernel, stride, padding, outHeight, outWidth)
            : Forward<double>(x, kernel, stride, padding, outHeight, outWidth);

    private static Tensor Forward<T>(Tensor x, int kernel, int stride, int padding, int oh, int ow)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = x.Size(0), c = x.Size(1), h = x.Size(2), w = x.Size(3);
        var xs = ((CpuStorage<T>)x.Storage).Data;
        int xOffset = x.Offset;
        var y = Tensor.Empty([n, c, oh, ow], x.DType);                   // every element is written below
        var ys = ((CpuStorage<T>)y.Storage).Data;
        bool grad = Differentiable.NeedsGrad(x);
        var winners = grad ? Tensor.Empty([n, c, oh, ow], DType.Int32) : null;
        var ws = winners is null ? null : ((CpuStorage<int>)winners.Storage).Data;
        IntraOpPool.For(n * c, plane =>
        {
            int src = xOffset + plane * h * w, dst = plane * oh * ow;
            for (int i = 0; i < oh; i++)
            {
                int r0 = i * stride - padding, r1 = Math.Min(r0 + kernel, h);
                r0 = Math.Max(r0, 0);
                for (int j = 0; j < ow; j++)
                {
                    int c0 = j * stride - padding, c1 = Math.Min(c0 + kernel, w);
                    c0 = Math.Max(c0, 0);
                    T best = T.NegativeInfinity;
                    int at = r0 * w + c0;
                    for (int r = r0; r < r1; r++)
                        for (int col = c0; col < c1; col++)
                        {
                            T v = xs[src + r * w + col];
                            // torch: (val > max) || isnan(val); once the max is NaN nothing is greater, but a later NaN
                            // would still move the winner, so stop moving it once a NaN holds it (first NaN wins, as
                            // in the composed path's argmax).
                            if (v > best || (T.IsNaN(v) && !T.IsNaN(best))) { best = v; at = r * w + col; }
                        }
                    ys[dst + i * ow + j] = best;
                    if (ws is not null) ws[dst + i * ow + j] = at;
                }
            }
        });
        if (winners is null) return y;
        return Differentiable.Record("MaxPool2d", y, [x], Backward<T>(winners, n, c, h, w, oh * ow), winners);
    }

    /// <summary>Built apart from the forward so the closure holds the winners only (see BatchNormFused.Backward).</summary>
    private static BackwardFunction Backward<T>(Tensor winners, int n, int c, int h, int w, int outPlane)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var ws = ((CpuStorage<int>)winners.Storage).Data;
        return g =>
        {
            var gc = g.Contiguous();
            var gs = ((CpuStorage<T>)gc.Storage).Data;
            int gOffset = gc.Offset;
            var dx = Tensor.Zeros([n, c, h, w], gc.DType);
            var dxs = ((CpuStorage<T>)dx.Storage).Data;
            IntraOpPool.For(n * c, plane =>
            {
                int dst = plane * h * w, src = plane * outPlane;
                for (int k = 0; k < outPlane; k++) dxs[dst + ws[src + k]] += gs[gOffset + src + k];
            });
            return [dx];
        };
    }
}
