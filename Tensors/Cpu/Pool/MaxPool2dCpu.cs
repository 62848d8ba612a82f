using System.Numerics;

namespace Sparkle.Tensors.Cpu.Pool;

/// <summary>
/// max_pool2d of contiguous NCHW planes with winner offsets (int32 in the input plane, the only thing the backward
/// keeps): one pass over each window writes the maximum and the winner; the backward adds each output gradient at its
/// winner. The composed version (k² strided copies, a max, an int64 argmax, and k² select-and-add passes back) cost
/// ~0.3 s per backward on SparK R18's stem. Same winner as torch's CPU kernel: the first maximum in row-major window
/// order, and a NaN wins over numbers (propagates). Planes run in parallel and each writes only its own plane, so
/// results do not depend on the thread count. (Moved from Nn/Functional/MaxPoolFused.cs.)
/// </summary>
internal static class MaxPool2dCpu<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static void Forward(Tensor x, int kernel, int stride, int padding, Tensor y, Tensor? winners)
    {
        int h = x.Size(2), w = x.Size(3), oh = y.Size(2), ow = y.Size(3);
        var xs = CpuBackend.Data<T>(x);
        var ys = CpuBackend.Data<T>(y);
        var ws = winners is null ? null : CpuBackend.Data<int>(winners);
        int xOffset = x.Offset, yOffset = y.Offset, wOffset = winners?.Offset ?? 0;
        IntraOpPool.For(x.Size(0) * x.Size(1), plane =>
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
                    ys[yOffset + dst + i * ow + j] = best;
                    if (ws is not null) ws[wOffset + dst + i * ow + j] = at;
                }
            }
        });
    }

    public static void Backward(Tensor gy, Tensor winners, Tensor gx)
    {
        int plane = gx.Size(2) * gx.Size(3), outPlane = gy.Size(2) * gy.Size(3);
        var gs = CpuBackend.Data<T>(gy);
        var ws = CpuBackend.Data<int>(winners);
        var dxs = CpuBackend.Data<T>(gx);
        int gOffset = gy.Offset, wOffset = winners.Offset, dOffset = gx.Offset;
        IntraOpPool.For(gx.Size(0) * gx.Size(1), p =>
        {
            int dst = dOffset + p * plane, src = p * outPlane;
            dxs.AsSpan(dst, plane).Clear();
            for (int k = 0; k < outPlane; k++) dxs[dst + ws[wOffset + src + k]] += gs[gOffset + src + k];
        });
    }
}
