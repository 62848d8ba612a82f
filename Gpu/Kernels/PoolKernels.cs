using ILGPU;
using ILGPU.Runtime;

namespace Sparkle.Gpu.Kernels;

/// <summary>A max-pool launch: input planes H×W, output planes OH×OW, square window K, stride S, padding P.
/// HasWinners is 0/1 (kernels take no bools).</summary>
public readonly record struct MaxPoolGeometry(int H, int W, int OH, int OW, int K, int S, int P, int HasWinners);

/// <summary>
/// max_pool2d with winner offsets on the device (IBackend.MaxPool2dForward/Backward), the CPU kernel's rule exactly:
/// the first maximum in row-major window order, the first NaN over any number, padding skipped, and an all −inf window's
/// winner its first real element. The backward runs one thread per input element, which scans the outputs whose windows
/// contain it in row-major order and adds the gradients it won: no atomics, and the same sum order as the CPU's.
/// </summary>
public static class PoolKernels
{
    /// <summary>One thread per output element (plane-major, as y is laid out).</summary>
    public static void MaxPoolForward<T, TE>(Index1D i, ArrayView1D<T, Stride1D.Dense> x, ArrayView1D<T, Stride1D.Dense> y,
        ArrayView1D<int, Stride1D.Dense> winners, MaxPoolGeometry geo)
        where T : unmanaged where TE : struct, IElement<T>
    {
        var e = default(TE);
        int outPlane = geo.OH * geo.OW, plane = i / outPlane, o = i % outPlane;
        int oi = o / geo.OW, oj = o % geo.OW;
        int r0 = oi * geo.S - geo.P, r1 = r0 + geo.K < geo.H ? r0 + geo.K : geo.H;
        int c0 = oj * geo.S - geo.P, c1 = c0 + geo.K < geo.W ? c0 + geo.K : geo.W;
        if (r0 < 0) r0 = 0;
        if (c0 < 0) c0 = 0;
        int src = plane * geo.H * geo.W;
        T best = e.FromDouble(double.NegativeInfinity);
        bool bestNaN = false;
        int at = r0 * geo.W + c0;
        for (int r = r0; r < r1; r++)
            for (int c = c0; c < c1; c++)
            {
                T v = x[src + r * geo.W + c];
                bool nan = !e.Eq(v, v);
                if (e.Lt(best, v) || (nan && !bestNaN)) { best = v; at = r * geo.W + c; bestNaN = nan; }
            }
        y[i] = best;
        if (geo.HasWinners != 0) winners[i] = at;
    }

    /// <summary>One thread per input element: gx = Σ gy over the outputs (in row-major order) whose winner it is.</summary>
    public static void MaxPoolBackward<T, TE>(Index1D i, ArrayView1D<T, Stride1D.Dense> gy, ArrayView1D<int, Stride1D.Dense> winners,
        ArrayView1D<T, Stride1D.Dense> gx, MaxPoolGeometry geo)
        where T : unmanaged where TE : struct, IElement<T>
    {
        var e = default(TE);
        int inPlane = geo.H * geo.W, plane = i / inPlane, pos = i % inPlane;
        int r = pos / geo.W, c = pos % geo.W;
        // Output rows whose window [oi·S − P, oi·S − P + K) holds row r: ceil((r + P − K + 1) / S) .. floor((r + P) / S).
        int lo = r + geo.P - geo.K + 1, i0 = lo <= 0 ? 0 : (lo + geo.S - 1) / geo.S, i1 = (r + geo.P) / geo.S;
        int loC = c + geo.P - geo.K + 1, j0 = loC <= 0 ? 0 : (loC + geo.S - 1) / geo.S, j1 = (c + geo.P) / geo.S;
        if (i1 > geo.OH - 1) i1 = geo.OH - 1;
        if (j1 > geo.OW - 1) j1 = geo.OW - 1;
        int dst = plane * geo.OH * geo.OW;
        T acc = e.FromDouble(0.0);
        for (int oi = i0; oi <= i1; oi++)
            for (int oj = j0; oj <= j1; oj++)
            {
                int o = dst + oi * geo.OW + oj;
                if (winners[o] == pos) acc = e.Add(acc, gy[o]);
            }
        gx[i] = acc;
    }
}
