using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using Sparkle.Tensors.Backend;

namespace Sparkle.Gpu.Kernels;

/// <summary>
/// Reductions with one thread group per output element, for long reductions (LAMB's whole-tensor norms, BN's per-channel
/// sums): thread t of G accumulates elements t, t+G, t+2G... of the reduced range (<c>inner</c>, as in
/// <see cref="ReduceKernels"/>), then the group sums its G partials in a shared-memory tree. G is a power of two at most
/// <see cref="MaxGroup"/>. Deterministic (fixed order for a given G); differs from the CPU's order by rounding only.
/// The one-thread-per-output kernel took 2.7 s on an H100 for one 9.4M-element sum (a single thread).
/// </summary>
public static class GroupReduceKernel
{
    public const int MaxGroup = 256;

    /// <summary>Sum, Mean, Var (mean first, then squared deviations), Max, Min. <paramref name="wide"/> != 0 accumulates
    /// in float64 (float32 and float64); 0 accumulates in T (integers), as <see cref="ReduceKernels.Reduce"/> does.</summary>
    public static void Reduce<T, TE>(ArrayView1D<T, Stride1D.Dense> x, ArrayView1D<T, Stride1D.Dense> dst,
        Layout4 outer, Layout4 inner, int n, int op, int wide, int correction)
        where T : unmanaged where TE : struct, IElement<T>
    {
        var e = default(TE);
        var sd = SharedMemory.Allocate<double>(MaxGroup);
        var st = SharedMemory.Allocate<T>(MaxGroup);
        int t = Group.IdxX, g = Group.DimX;
        outer.Locate(Grid.IdxX, out int od, out int ox, out _, out _);
        if (op == (int)ReduceOp.Max || op == (int)ReduceOp.Min)
        {
            // Start from element t (or 0 past the end: a repeat changes neither max nor min).
            inner.Locate(t < n ? t : 0, out int o0, out _, out _, out _);
            T best = x[ox + o0];
            for (int j = t + g; j < n; j += g)
            {
                inner.Locate(j, out int oj, out _, out _, out _);
                best = op == (int)ReduceOp.Max ? e.Maximum(best, x[ox + oj]) : e.Minimum(best, x[ox + oj]);
            }
            st[t] = best;
            Group.Barrier();
            for (int s = g / 2; s > 0; s >>= 1)
            {
                if (t < s) st[t] = op == (int)ReduceOp.Max ? e.Maximum(st[t], st[t + s]) : e.Minimum(st[t], st[t + s]);
                Group.Barrier();
            }
            if (t == 0) dst[od] = st[0];
            return;
        }
        if (wide != 0)
        {
            double sum = 0;
            for (int j = t; j < n; j += g)
            {
                inner.Locate(j, out int oj, out _, out _, out _);
                sum += e.ToDouble(x[ox + oj]);
            }
            double total = TreeSum(sd, t, g, sum);
            if (op == (int)ReduceOp.Sum) { if (t == 0) dst[od] = e.FromDouble(total); return; }
            double mean = total / n;
            if (op == (int)ReduceOp.Mean) { if (t == 0) dst[od] = e.FromDouble(mean); return; }
            double ss = 0;
            for (int j = t; j < n; j += g)
            {
                inner.Locate(j, out int oj, out _, out _, out _);
                double d = e.ToDouble(x[ox + oj]) - mean;
                ss += d * d;
            }
            double totalSq = TreeSum(sd, t, g, ss);
            if (t == 0) dst[od] = e.FromDouble(totalSq / (n - correction > 0 ? n - correction : 0));
            return;
        }
        T acc = e.FromLong(0);
        for (int j = t; j < n; j += g)
        {
            inner.Locate(j, out int oj, out _, out _, out _);
            acc = e.Add(acc, x[ox + oj]);
        }
        st[t] = acc;
        Group.Barrier();
        for (int s = g / 2; s > 0; s >>= 1)
        {
            if (t < s) st[t] = e.Add(st[t], st[t + s]);
            Group.Barrier();
        }
        // Integer Mean/Var as the one-thread kernel computes them (the host only sends Sum for integers today).
        T total2 = st[0];
        if (op == (int)ReduceOp.Sum) { if (t == 0) dst[od] = total2; return; }
        T m = e.Div(total2, e.FromLong(n));
        if (op == (int)ReduceOp.Mean) { if (t == 0) dst[od] = m; return; }
        Group.Barrier();                                    // everyone has read st[0] before it is overwritten
        T sq = e.FromLong(0);
        for (int j = t; j < n; j += g)
        {
            inner.Locate(j, out int oj, out _, out _, out _);
            T d = e.Sub(x[ox + oj], m);
            sq = e.Add(sq, e.Mul(d, d));
        }
        st[t] = sq;
        Group.Barrier();
        for (int s = g / 2; s > 0; s >>= 1)
        {
            if (t < s) st[t] = e.Add(st[t], st[t + s]);
            Group.Barrier();
        }
        if (t == 0) dst[od] = e.Div(st[0], e.FromLong(n - correction > 0 ? n - correction : 0));
    }

    /// <summary>First stage of a split sum (few outputs, long ranges: a whole-tensor norm would otherwise run on one group):
    /// group q sums chunk q % parts of output q / parts, elements [chunk·p, chunk·(p+1)) of the reduced range, in float64,
    /// into partials[q].</summary>
    public static void PartialSums<T, TE>(ArrayView1D<T, Stride1D.Dense> x, ArrayView1D<double, Stride1D.Dense> partials,
        Layout4 outer, Layout4 inner, int n, int parts, int chunk)
        where T : unmanaged where TE : struct, IElement<T>
    {
        var e = default(TE);
        var sd = SharedMemory.Allocate<double>(MaxGroup);
        int t = Group.IdxX, g = Group.DimX, q = Grid.IdxX;
        outer.Locate(q / parts, out _, out int ox, out _, out _);
        int start = q % parts * chunk, end = XMath.Min(n, start + chunk);
        double sum = 0;
        for (int j = start + t; j < end; j += g)
        {
            inner.Locate(j, out int oj, out _, out _, out _);
            sum += e.ToDouble(x[ox + oj]);
        }
        double total = TreeSum(sd, t, g, sum);
        if (t == 0) partials[q] = total;
    }

    /// <summary>Second stage: output o = the sum of partials[o·parts .. o·parts + parts) (divided by n when
    /// <paramref name="mean"/> != 0).</summary>
    public static void FinishSums<T, TE>(ArrayView1D<double, Stride1D.Dense> partials, ArrayView1D<T, Stride1D.Dense> dst,
        Layout4 outer, int n, int parts, int mean)
        where T : unmanaged where TE : struct, IElement<T>
    {
        var e = default(TE);
        var sd = SharedMemory.Allocate<double>(MaxGroup);
        int t = Group.IdxX, g = Group.DimX, o = Grid.IdxX;
        outer.Locate(o, out int od, out _, out _, out _);
        double sum = 0;
        for (int p = t; p < parts; p += g) sum += partials[o * parts + p];
        double total = TreeSum(sd, t, g, sum);
        if (t == 0) dst[od] = e.FromDouble(mean != 0 ? total / n : total);
    }

    /// <summary>The group's sum of <paramref name="partial"/>, returned to every thread; leaves <paramref name="sd"/> free
    /// for the next call (a barrier after the read). Shared by the norm and optimizer kernels' group sums.</summary>
    internal static double TreeSum(ArrayView<double> sd, int t, int g, double partial)
    {
        sd[t] = partial;
        Group.Barrier();
        for (int s = g / 2; s > 0; s >>= 1)
        {
            if (t < s) sd[t] += sd[t + s];
            Group.Barrier();
        }
        double total = sd[0];
        Group.Barrier();
        return total;
    }
}
