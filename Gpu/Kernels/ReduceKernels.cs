using ILGPU;
using ILGPU.Runtime;
using Sparkle.Tensors.Backend;

namespace Sparkle.Gpu.Kernels;

/// <summary>
/// Reductions, one thread per output element looping over the reduced elements in row-major order (a first
/// slice: simple and deterministic; a tree reduction per output is the next step for long reductions).
/// <c>outer</c> maps the thread to (dst, x) offsets over the kept dims; <c>inner</c> maps j in [0, n) to the
/// x offset over the reduced dims (operand 0, offset 0).
/// </summary>
public static class ReduceKernels
{
    /// <summary>Sum, Mean, Var (two passes over the same elements), Max, Min. <paramref name="wide"/> != 0 sums in
    /// float64 (used for float32, whose sequential sums would otherwise drift from the CPU's blocked ones).</summary>
    public static void Reduce<T, TE>(Index1D i, ArrayView1D<T, Stride1D.Dense> x, ArrayView1D<T, Stride1D.Dense> dst,
        Layout4 outer, Layout4 inner, int n, int op, int wide, int correction)
        where T : unmanaged where TE : struct, IElement<T>
    {
        var e = default(TE);
        outer.Locate(i, out int od, out int ox, out _, out _);
        if (op == (int)ReduceOp.Max || op == (int)ReduceOp.Min)
        {
            inner.Locate(0, out int o0, out _, out _, out _);
            T best = x[ox + o0];
            for (int j = 1; j < n; j++)
            {
                inner.Locate(j, out int oj, out _, out _, out _);
                best = op == (int)ReduceOp.Max ? e.Maximum(best, x[ox + oj]) : e.Minimum(best, x[ox + oj]);
            }
            dst[od] = best;
            return;
        }
        if (wide != 0)
        {
            double sum = 0;
            for (int j = 0; j < n; j++)
            {
                inner.Locate(j, out int oj, out _, out _, out _);
                sum += e.ToDouble(x[ox + oj]);
            }
            if (op == (int)ReduceOp.Sum) { dst[od] = e.FromDouble(sum); return; }
            double mean = sum / n;
            if (op == (int)ReduceOp.Mean) { dst[od] = e.FromDouble(mean); return; }
            double ss = 0;
            for (int j = 0; j < n; j++)
            {
                inner.Locate(j, out int oj, out _, out _, out _);
                double d = e.ToDouble(x[ox + oj]) - mean;
                ss += d * d;
            }
            dst[od] = e.FromDouble(ss / (n - correction > 0 ? n - correction : 0));
            return;
        }
        T acc = e.FromLong(0);
        for (int j = 0; j < n; j++)
        {
            inner.Locate(j, out int oj, out _, out _, out _);
            acc = e.Add(acc, x[ox + oj]);
        }
        if (op == (int)ReduceOp.Sum) { dst[od] = acc; return; }
        T m = e.Div(acc, e.FromLong(n));
        if (op == (int)ReduceOp.Mean) { dst[od] = m; return; }
        T sq = e.FromLong(0);
        for (int j = 0; j < n; j++)
        {
            inner.Locate(j, out int oj, out _, out _, out _);
            T d = e.Sub(x[ox + oj], m);
            sq = e.Add(sq, e.Mul(d, d));
        }
        dst[od] = e.Div(sq, e.FromLong(n - correction > 0 ? n - correction : 0));
    }

    /// <summary>Index of the max (isMax != 0) or min along one axis; the first occurrence wins; NaN counts as best.</summary>
    public static void ArgReduce<T, TE>(Index1D i, ArrayView1D<T, Stride1D.Dense> x, ArrayView1D<long, Stride1D.Dense> dst,
        Layout4 outer, int n, int stride, int isMax)
        where T : unmanaged where TE : struct, IElement<T>
    {
        var e = default(TE);
        outer.Locate(i, out int od, out int ox, out _, out _);
        T best = x[ox];
        long bi = 0;
        for (int r = 1; r < n; r++)
        {
            T v = x[ox + r * stride];
            bool bestNaN = !e.Eq(best, best), vNaN = !e.Eq(v, v);
            bool better = !bestNaN && (vNaN || (isMax != 0 ? e.Lt(best, v) : e.Lt(v, best)));
            if (better) { best = v; bi = r; }
        }
        dst[od] = bi;
    }
}
