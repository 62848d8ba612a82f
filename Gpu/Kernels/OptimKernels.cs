using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using Sparkle.Tensors.Backend;

namespace Sparkle.Gpu.Kernels;

/// <summary>Where one tensor's operands start in their buffers (all contiguous), its length, and how its work is split for
/// the grouped kernels: <c>Chunk</c> elements per group, partial sums at <c>SlotBase</c> + group (<c>Slots</c> per tensor;
/// the slots past the tensor's groups are written 0).</summary>
public struct OptimOperands
{
    public int P, G, M, V, N, Chunk, SlotBase, Slots;
}

/// <summary>LAMB's hyper-parameters for the kernels, as the doubles the CPU turns into T constants (FromDouble rounds the
/// same way).</summary>
public struct LambArgs
{
    public double B1, B2, OneMinusB2, Coef, SqrtBc2, Eps, Bc1, Wd, NegLr, MaxNorm;
    public int Decay, Clipped, TrustClip;
}

public struct AdamWArgs
{
    public double DecayFactor, B1, OneMinusB1, B2, OneMinusB2, SqrtBc2, Eps, NegLrOverBc1;
    public int Decay;
}

public struct SgdArgs
{
    public double Wd, Mom, OneMinusDamp, NegLr;
    public int Decay, Momentum, First, Nesterov;
}

/// <summary>
/// Optimizer kernels (IlgpuBackend.Optim.cs): per-element arithmetic in T in the CPU kernels' order (Tensors/Cpu/Optim), so
/// float64 agrees with the CPU to rounding of the sums only; sums of squares accumulate in float64 per thread, then in a
/// shared-memory tree per group (fixed order: deterministic), into float64 partial slots that one more launch adds up.
/// </summary>
public static class OptimKernels
{
    public const int MaxGroup = 256;

    /// <summary>Grouped: group q adds x² over elements [q·chunk, (q+1)·chunk) of one tensor into partials[SlotBase + q];
    /// group 0 also zeroes the tensor's unused slots.</summary>
    public static void SumSquaresPartial<T, TE>(ArrayView1D<T, Stride1D.Dense> x, ArrayView1D<double, Stride1D.Dense> partials, OptimOperands o)
        where T : unmanaged where TE : struct, IElement<T>
    {
        var e = default(TE);
        var sd = SharedMemory.Allocate<double>(MaxGroup);
        int t = Group.IdxX, g = Group.DimX, q = Grid.IdxX;
        int start = q * o.Chunk, end = XMath.Min(o.N, start + o.Chunk);
        double sum = 0.0;
        for (int j = start + t; j < end; j += g)
        {
            double d = e.ToDouble(x[o.P + j]);
            sum += d * d;
        }
        double total = GroupReduceKernel.TreeSum(sd, t, g, sum);
        if (t == 0) partials[o.SlotBase + q] = total;
        if (q == 0)
            for (int s = Grid.DimX + t; s < o.Slots; s += g) partials[o.SlotBase + s] = 0.0;
    }

    /// <summary>Grouped. <paramref name="total"/> != 0: one group adds all <paramref name="count"/> · slots partials into
    /// dst[dOffset]; else group k adds tensor k's slots into dst[dOffset + k·dStride].</summary>
    public static void FinishSums<T, TE>(ArrayView1D<double, Stride1D.Dense> partials, ArrayView1D<T, Stride1D.Dense> dst,
        int slots, int count, int total, int dOffset, int dStride)
        where T : unmanaged where TE : struct, IElement<T>
    {
        var e = default(TE);
        var sd = SharedMemory.Allocate<double>(MaxGroup);
        int t = Group.IdxX, g = Group.DimX, k = Grid.IdxX;
        int start = total != 0 ? 0 : k * slots, end = total != 0 ? count * slots : start + slots;
        double sum = 0.0;
        for (int j = start + t; j < end; j += g) sum += partials[j];
        double s = GroupReduceKernel.TreeSum(sd, t, g, sum);
        if (t == 0) dst[dOffset + (total != 0 ? 0 : k * dStride)] = e.FromDouble(s);
    }

    /// <summary>LAMB's update of one element from its new moments and its parameter (before the step).</summary>
    private static T LambUpdate<T, TE>(in LambArgs a, T m, T v, T p) where T : unmanaged where TE : struct, IElement<T>
    {
        var e = default(TE);
        T denom = e.Add(e.Div(e.Transcendental((int)UnaryOp.Sqrt, v), e.FromDouble(a.SqrtBc2)), e.FromDouble(a.Eps));
        T u = e.Div(e.Div(m, denom), e.FromDouble(a.Bc1));
        return a.Decay != 0 ? e.Add(u, e.Mul(p, e.FromDouble(a.Wd))) : u;
    }

    /// <summary>Grouped, one tensor: clip the gradient (factor from the 0-d norm), update m and v, then either apply the update
    /// (<paramref name="keep"/> = 0) or add Σp² and Σupdate² of the group's chunk into the slots (w at SlotBase + q, u at
    /// <paramref name="uBase"/> + SlotBase + q) for <see cref="LambTrust{T, TE}"/>.</summary>
    public static void LambMoments<T, TE>(ArrayView1D<T, Stride1D.Dense> p, ArrayView1D<T, Stride1D.Dense> grad,
        ArrayView1D<T, Stride1D.Dense> m, ArrayView1D<T, Stride1D.Dense> v, ArrayView1D<T, Stride1D.Dense> norm,
        ArrayView1D<double, Stride1D.Dense> partials, OptimOperands o, LambArgs a, int normOffset, int keep, int uBase)
        where T : unmanaged where TE : struct, IElement<T>
    {
        var e = default(TE);
        var sd = SharedMemory.Allocate<double>(MaxGroup);
        int t = Group.IdxX, g = Group.DimX, q = Grid.IdxX;
        T one = e.FromDouble(1.0);
        T clip = one;
        if (a.Clipped != 0)
        {
            // 1 / max(norm / max_norm, 1), NaN propagating as the tensor ops' Maximum does
            T r = e.Div(norm[normOffset], e.FromDouble(a.MaxNorm));
            clip = e.Div(one, e.Maximum(r, one));
        }
        int start = q * o.Chunk, end = XMath.Min(o.N, start + o.Chunk);
        double wSum = 0.0, uSum = 0.0;
        for (int j = start + t; j < end; j += g)
        {
            T gj = grad[o.G + j];
            if (a.Clipped != 0) { gj = e.Mul(gj, clip); grad[o.G + j] = gj; }
            T vj = e.Add(e.Mul(v[o.V + j], e.FromDouble(a.B2)), e.Mul(e.Mul(gj, gj), e.FromDouble(a.OneMinusB2)));
            T mj = e.Add(e.Mul(m[o.M + j], e.FromDouble(a.B1)), e.Mul(gj, e.FromDouble(a.Coef)));
            v[o.V + j] = vj;
            m[o.M + j] = mj;
            T pj = p[o.P + j];
            T u = LambUpdate<T, TE>(a, mj, vj, pj);
            if (keep != 0)
            {
                double pd = e.ToDouble(pj), ud = e.ToDouble(u);
                wSum += pd * pd;
                uSum += ud * ud;
            }
            else p[o.P + j] = e.Add(pj, e.Mul(u, e.FromDouble(a.NegLr)));
        }
        if (keep == 0) return;                                   // uniform across the launch: no thread waits at a barrier
        double w = GroupReduceKernel.TreeSum(sd, t, g, wSum);
        double uu = GroupReduceKernel.TreeSum(sd, t, g, uSum);
        if (t == 0) { partials[o.SlotBase + q] = w; partials[uBase + o.SlotBase + q] = uu; }
        if (q == 0)
            for (int s = Grid.DimX + t; s < o.Slots; s += g) { partials[o.SlotBase + s] = 0.0; partials[uBase + o.SlotBase + s] = 0.0; }
    }

    /// <summary>Grouped, group k per tensor: ‖p‖, ‖update‖ from the slots (rounded to T, square root in T, as the CPU),
    /// then trust[k] = ‖p‖/‖update‖ when both are > 0, else 1 (capped at 1 with trust_clip).</summary>
    public static void LambTrust<T, TE>(ArrayView1D<double, Stride1D.Dense> partials, ArrayView1D<T, Stride1D.Dense> trust,
        int slots, int uBase, int trustClip)
        where T : unmanaged where TE : struct, IElement<T>
    {
        var e = default(TE);
        var sd = SharedMemory.Allocate<double>(MaxGroup);
        int t = Group.IdxX, g = Group.DimX, k = Grid.IdxX;
        double ws = 0.0, us = 0.0;
        for (int j = t; j < slots; j += g) { ws += partials[k * slots + j]; us += partials[uBase + k * slots + j]; }
        double w = GroupReduceKernel.TreeSum(sd, t, g, ws);
        double u = GroupReduceKernel.TreeSum(sd, t, g, us);
        if (t != 0) return;
        T zero = e.FromDouble(0.0), one = e.FromDouble(1.0);
        T wn = e.Transcendental((int)UnaryOp.Sqrt, e.FromDouble(w)), un = e.Transcendental((int)UnaryOp.Sqrt, e.FromDouble(u));
        T r = e.Lt(zero, wn) ? (e.Lt(zero, un) ? e.Div(wn, un) : one) : one;
        trust[k] = trustClip != 0 ? e.Minimum(r, one) : r;
    }

    /// <summary>One thread per element: p += (update · trust[k]) · (−lr), the update recomputed from the new moments (the
    /// same operations as in <see cref="LambMoments{T, TE}"/>, so the same value) instead of being kept in a work buffer.</summary>
    public static void LambApply<T, TE>(Index1D i, ArrayView1D<T, Stride1D.Dense> p, ArrayView1D<T, Stride1D.Dense> m,
        ArrayView1D<T, Stride1D.Dense> v, ArrayView1D<T, Stride1D.Dense> trust, OptimOperands o, LambArgs a, int k)
        where T : unmanaged where TE : struct, IElement<T>
    {
        var e = default(TE);
        T pj = p[o.P + i];
        T u = LambUpdate<T, TE>(a, m[o.M + i], v[o.V + i], pj);
        p[o.P + i] = e.Add(pj, e.Mul(e.Mul(u, trust[k]), e.FromDouble(a.NegLr)));
    }

    /// <summary>One thread per element: torch.optim.AdamW in AdamWCpu's order.</summary>
    public static void AdamW<T, TE>(Index1D i, ArrayView1D<T, Stride1D.Dense> p, ArrayView1D<T, Stride1D.Dense> grad,
        ArrayView1D<T, Stride1D.Dense> m, ArrayView1D<T, Stride1D.Dense> v, OptimOperands o, AdamWArgs a)
        where T : unmanaged where TE : struct, IElement<T>
    {
        var e = default(TE);
        T pj = p[o.P + i];
        if (a.Decay != 0) pj = e.Mul(pj, e.FromDouble(a.DecayFactor));
        T gj = grad[o.G + i];
        T vj = e.Add(e.Mul(v[o.V + i], e.FromDouble(a.B2)), e.Mul(e.Mul(gj, gj), e.FromDouble(a.OneMinusB2)));
        T mj = e.Add(e.Mul(m[o.M + i], e.FromDouble(a.B1)), e.Mul(gj, e.FromDouble(a.OneMinusB1)));
        v[o.V + i] = vj;
        m[o.M + i] = mj;
        T denom = e.Add(e.Div(e.Transcendental((int)UnaryOp.Sqrt, vj), e.FromDouble(a.SqrtBc2)), e.FromDouble(a.Eps));
        p[o.P + i] = e.Add(pj, e.Mul(e.Div(mj, denom), e.FromDouble(a.NegLrOverBc1)));
    }

    /// <summary>One thread per element: torch.optim.SGD in SgdCpu's order (the momentum buffer at o.M).</summary>
    public static void Sgd<T, TE>(Index1D i, ArrayView1D<T, Stride1D.Dense> p, ArrayView1D<T, Stride1D.Dense> grad,
        ArrayView1D<T, Stride1D.Dense> buf, OptimOperands o, SgdArgs a)
        where T : unmanaged where TE : struct, IElement<T>
    {
        var e = default(TE);
        T pj = p[o.P + i];
        T d = grad[o.G + i];
        if (a.Decay != 0) d = e.Add(e.Mul(pj, e.FromDouble(a.Wd)), d);
        if (a.Momentum != 0)
        {
            T b = a.First != 0 ? d : e.Add(e.Mul(buf[o.M + i], e.FromDouble(a.Mom)), e.Mul(d, e.FromDouble(a.OneMinusDamp)));
            buf[o.M + i] = b;
            d = a.Nesterov != 0 ? e.Add(d, e.Mul(b, e.FromDouble(a.Mom))) : b;
        }
        p[o.P + i] = e.Add(pj, e.Mul(d, e.FromDouble(a.NegLr)));
    }
}
