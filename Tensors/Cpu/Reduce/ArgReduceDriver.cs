using System.Buffers;
using System.Numerics;
using Sparkle.Tensors.Cpu.Elementwise;

namespace Sparkle.Tensors.Cpu.Reduce;

/// <summary>
/// Index of the max/min along one axis (Int64). The first occurrence wins; NaN counts as larger (argmax) or
/// smaller (argmin) than everything, so the first NaN wins, as in torch. Contiguous axis: one row scan per
/// output; contiguous kept dim: rows of running best values and indices updated row after row.
/// </summary>
internal static class ArgReduceDriver
{
    public static void Run<T>(bool isMax, Tensor x, int axis, Tensor dst) where T : unmanaged, INumber<T>
    {
        var p = new ReducePlan(x, [axis]);
        if (p.M == 0) return;
        if (p.N <= 1) { CpuBackend.Instance.Fill(dst, 0); return; } // a single candidate: index 0
        T[] xs = ElementData.Array<T>(x);
        long[] ds = CpuBackend.Data<long>(dst);
        int n = p.N, stride = p.RxStrides[0], dOff = dst.Offset;
        if (p.Kind == ReduceKind.Outer)
        {
            int len = p.OuterRow, outerK = p.KShape.Length - 1, dInner = p.KdStrides[^1];
            IntraOpPool.ForRange(p.M / len, Math.Max(1, (1 << 15) / Math.Max(1, len * n)), (s, e) =>
            {
                var best = ArrayPool<T>.Shared.Rent(len);
                var idx = ArrayPool<long>.Shared.Rent(len);
                try
                {
                    for (int g = s; g < e; g++)
                    {
                        int xBase = p.XOffset + Odometer.OffsetOf(p.KShape, p.KxStrides, g, outerK);
                        int dBase = dOff + Odometer.OffsetOf(p.KShape, p.KdStrides, g, outerK);
                        xs.AsSpan(xBase, len).CopyTo(best); // (not Array.Copy: bool storage is read as bytes)
                        Array.Clear(idx, 0, len);
                        for (int r = 1; r < n; r++)
                        {
                            int row = xBase + r * stride;
                            for (int j = 0; j < len; j++)
                            {
                                T v = xs[row + j];
                                if (Better(isMax, v, best[j])) { best[j] = v; idx[j] = r; }
                            }
                        }
                        for (int j = 0; j < len; j++) ds[dBase + j * dInner] = idx[j];
                    }
                }
                finally
                {
                    ArrayPool<T>.Shared.Return(best);
                    ArrayPool<long>.Shared.Return(idx);
                }
            });
            return;
        }
        IntraOpPool.ForRange(p.M, Math.Max(1, (1 << 15) / n), (s, e) =>
        {
            for (int o = s; o < e; o++)
            {
                int xo = p.XOffset + Odometer.OffsetOf(p.KShape, p.KxStrides, o);
                T b = xs[xo];
                long bi = 0;
                for (int r = 1; r < n; r++)
                {
                    T v = xs[xo + r * stride];
                    if (Better(isMax, v, b)) { b = v; bi = r; }
                }
                ds[dOff + Odometer.OffsetOf(p.KShape, p.KdStrides, o)] = bi;
            }
        });
    }

    private static bool Better<T>(bool isMax, T v, T best) where T : INumber<T>
    {
        if (T.IsNaN(best)) return false;
        if (T.IsNaN(v)) return true;
        return isMax ? v > best : v < best;
    }
}
