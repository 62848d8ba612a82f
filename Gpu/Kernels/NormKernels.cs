using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using Sparkle.Tensors.Backend;

namespace Sparkle.Gpu.Kernels;

/// <summary>What the batch-norm kernels need to know (one struct keeps the launches under ILGPU's parameter limits).
/// Element j (0 ≤ j &lt; Batch·Inner) of channel c sits at ((j / Inner)·Channels + c)·Inner + j % Inner: (N, C, *) planes,
/// or (n, C) rows with Inner = 1. Channel c's statistics run in Parts chunks of Chunk elements, one thread group each.
/// Flags are 0/1 ints (kernels take no bools), Act an <see cref="Activation"/> code.</summary>
public readonly record struct BatchNormGeometry(int Batch, int Channels, int Inner, int Parts, int Chunk, int Act,
    int HasWeight, int HasBias, int HasRunning, int HasGradWeight, int HasGradBias, double Eps, double Momentum)
{
    public int Count => Batch * Inner;

    public int Offset(int j, int c) => Inner == 1 ? j * Channels + c : ((j / Inner) * Channels + c) * Inner + j % Inner;

    /// <summary>Elements [start, end) of the chunk that group q (channel q / Parts) sums.</summary>
    public void ChunkRange(int q, out int start, out int end)
    {
        start = q % Parts * Chunk;
        end = XMath.Min(Count, start + Chunk);
    }
}

/// <summary>
/// Training-mode batch norm on the device in a handful of launches and no host read (IBackend.BatchNormTrainForward):
/// forward = <see cref="StatsPartial"/> (per chunk: its mean and Σ(x − mean)², two passes, float64) →
/// <see cref="StatsFinish"/> (per channel: chunks combined as Chan et al.'s parallel variance; saves mean and
/// 1/sqrt(var + eps), updates the running statistics) → <see cref="Normalize"/> (one thread per element, activation fused).
/// Backward = <see cref="GradPartial"/> (per chunk: Σg', Σg'·(x − mean), g' the activation-masked gradient) →
/// <see cref="GradFinish"/> (per channel: gWeight, gBias and the dx coefficients) → <see cref="InputGrad"/> (one thread per
/// element). Grouped kernels reduce in a shared-memory tree (as <see cref="GroupReduceKernel"/>), so results depend
/// only on the group size and the chunking, never on scheduling. Floating constants are written as doubles (docs/gpu.md).
/// </summary>
public static class NormKernels
{
    public const int MaxGroup = GroupReduceKernel.MaxGroup;

    /// <summary>Group q: chunk q % Parts of channel q / Parts → partials[2q] = its mean, partials[2q + 1] = Σ(x − mean)².</summary>
    public static void StatsPartial<T, TE>(ArrayView1D<T, Stride1D.Dense> x, ArrayView1D<double, Stride1D.Dense> partials, BatchNormGeometry geo)
        where T : unmanaged where TE : struct, IElement<T>
    {
        var e = default(TE);
        var sd = SharedMemory.Allocate<double>(MaxGroup);
        int t = Group.IdxX, g = Group.DimX, q = Grid.IdxX, c = q / geo.Parts;
        geo.ChunkRange(q, out int start, out int end);
        double sum = 0.0;
        for (int j = start + t; j < end; j += g) sum += e.ToDouble(x[geo.Offset(j, c)]);
        double mean = GroupReduceKernel.TreeSum(sd, t, g, sum) / (end - start);
        double sq = 0.0;
        for (int j = start + t; j < end; j += g)
        {
            double d = e.ToDouble(x[geo.Offset(j, c)]) - mean;
            sq += d * d;
        }
        double m2 = GroupReduceKernel.TreeSum(sd, t, g, sq);
        if (t == 0) { partials[2 * q] = mean; partials[2 * q + 1] = m2; }
    }

    /// <summary>Group c: channel c's mean and biased variance from its chunks (mean = Σ nₚ·meanₚ / n, M2 = Σ M2ₚ +
    /// nₚ·(meanₚ − mean)²), saved as float64; the running statistics (T) blended in place as the CPU does it.</summary>
    public static void StatsFinish<T, TE>(ArrayView1D<double, Stride1D.Dense> partials, ArrayView1D<double, Stride1D.Dense> saveMean,
        ArrayView1D<double, Stride1D.Dense> saveInvStd, ArrayView1D<T, Stride1D.Dense> runningMean, ArrayView1D<T, Stride1D.Dense> runningVar,
        BatchNormGeometry geo)
        where T : unmanaged where TE : struct, IElement<T>
    {
        var e = default(TE);
        var sd = SharedMemory.Allocate<double>(MaxGroup);
        int t = Group.IdxX, g = Group.DimX, c = Grid.IdxX, n = geo.Count;
        double mean, m2;
        if (geo.Parts == 1)
        {
            mean = partials[2 * c];
            m2 = partials[2 * c + 1];
        }
        else
        {
            double s = 0.0;
            for (int p = t; p < geo.Parts; p += g)
            {
                geo.ChunkRange(c * geo.Parts + p, out int start, out int end);
                s += (end - start) * partials[2 * (c * geo.Parts + p)];
            }
            mean = GroupReduceKernel.TreeSum(sd, t, g, s) / n;
            double s2 = 0.0;
            for (int p = t; p < geo.Parts; p += g)
            {
                int q = c * geo.Parts + p;
                geo.ChunkRange(q, out int start, out int end);
                double d = partials[2 * q] - mean;
                s2 += partials[2 * q + 1] + (end - start) * d * d;
            }
            m2 = GroupReduceKernel.TreeSum(sd, t, g, s2);
        }
        if (t != 0) return;
        double variance = m2 / n;
        saveMean[c] = mean;
        saveInvStd[c] = 1.0 / XMath.Sqrt(variance + geo.Eps);
        if (geo.HasRunning == 0) return;
        // running = running·(1 − m) + batch·m, each product rounded to T, as runningMean.Mul_(1 − m).Add_(batch, alpha: m).
        T keep = e.FromDouble(1.0 - geo.Momentum);
        runningMean[c] = e.Add(e.Mul(runningMean[c], keep), e.Mul(e.FromDouble(mean), e.FromDouble(geo.Momentum)));
        runningVar[c] = e.Add(e.Mul(runningVar[c], keep), e.Mul(e.FromDouble(variance), e.FromDouble(geo.Momentum * n / (n - 1.0))));
    }

    /// <summary>y = act(x·scale + shift), scale = invStd·w, shift = b − mean·scale (per channel, in float64 as the CPU).</summary>
    public static void Normalize<T, TE>(Index1D i, ArrayView1D<T, Stride1D.Dense> x, ArrayView1D<T, Stride1D.Dense> y,
        ArrayView1D<double, Stride1D.Dense> mean, ArrayView1D<double, Stride1D.Dense> invStd,
        ArrayView1D<T, Stride1D.Dense> weight, ArrayView1D<T, Stride1D.Dense> bias, BatchNormGeometry geo)
        where T : unmanaged where TE : struct, IElement<T>
    {
        var e = default(TE);
        int c = Channel(i, geo);
        double scale = invStd[c] * (geo.HasWeight != 0 ? e.ToDouble(weight[c]) : 1.0);
        double shift = (geo.HasBias != 0 ? e.ToDouble(bias[c]) : 0.0) - mean[c] * scale;
        T v = e.Add(e.Mul(x[i], e.FromDouble(scale)), e.FromDouble(shift));
        if (geo.Act == (int)Activation.Relu) v = e.Maximum(v, e.FromDouble(0.0));
        else if (geo.Act == (int)Activation.Relu6) v = e.Minimum(e.Maximum(v, e.FromDouble(0.0)), e.FromDouble(6.0));
        y[i] = v;
    }

    /// <summary>Group q: chunk q % Parts of channel q / Parts → partials[2q] = Σg', partials[2q + 1] = Σg'·(x − mean).</summary>
    public static void GradPartial<T, TE>(ArrayView1D<T, Stride1D.Dense> gy, ArrayView1D<T, Stride1D.Dense> x, ArrayView1D<T, Stride1D.Dense> y,
        ArrayView1D<double, Stride1D.Dense> mean, ArrayView1D<double, Stride1D.Dense> partials, BatchNormGeometry geo)
        where T : unmanaged where TE : struct, IElement<T>
    {
        var e = default(TE);
        var sd = SharedMemory.Allocate<double>(MaxGroup);
        int t = Group.IdxX, g = Group.DimX, q = Grid.IdxX, c = q / geo.Parts;
        geo.ChunkRange(q, out int start, out int end);
        double mu = mean[c], sg = 0.0, sgx = 0.0;
        for (int j = start + t; j < end; j += g)
        {
            int o = geo.Offset(j, c);
            double gv = MaskedGrad(e, gy[o], y[o], geo.Act);
            sg += gv;
            sgx += gv * (e.ToDouble(x[o]) - mu);
        }
        double total = GroupReduceKernel.TreeSum(sd, t, g, sg);
        double totalX = GroupReduceKernel.TreeSum(sd, t, g, sgx);
        if (t == 0) { partials[2 * q] = total; partials[2 * q + 1] = totalX; }
    }

    /// <summary>Group c: Σg' and Σg'·(x − mean) of channel c from its chunks → gBias = Σg', gWeight = Σg'·x̂ (when asked)
    /// and coef[3c..3c+2] = A, B, C of dx = A·g' + B·x + C.</summary>
    public static void GradFinish<T, TE>(ArrayView1D<double, Stride1D.Dense> partials, ArrayView1D<double, Stride1D.Dense> mean,
        ArrayView1D<double, Stride1D.Dense> invStd, ArrayView1D<T, Stride1D.Dense> weight, ArrayView1D<double, Stride1D.Dense> coef,
        ArrayView1D<T, Stride1D.Dense> gWeight, ArrayView1D<T, Stride1D.Dense> gBias, BatchNormGeometry geo)
        where T : unmanaged where TE : struct, IElement<T>
    {
        var e = default(TE);
        var sd = SharedMemory.Allocate<double>(MaxGroup);
        int t = Group.IdxX, g = Group.DimX, c = Grid.IdxX;
        double a = 0.0, b = 0.0;
        for (int p = t; p < geo.Parts; p += g)
        {
            a += partials[2 * (c * geo.Parts + p)];
            b += partials[2 * (c * geo.Parts + p) + 1];
        }
        double sg = GroupReduceKernel.TreeSum(sd, t, g, a), sgx = GroupReduceKernel.TreeSum(sd, t, g, b);
        if (t != 0) return;
        double istd = invStd[c];
        if (geo.HasGradBias != 0) gBias[c] = e.FromDouble(sg);
        if (geo.HasGradWeight != 0) gWeight[c] = e.FromDouble(sgx * istd);
        double w = geo.HasWeight != 0 ? e.ToDouble(weight[c]) : 1.0;
        int n = geo.Count;
        // dx = w·istd·(g − mean(g) − x̂·mean(g·x̂)) = A·g + B·x + C, with x̂ = (x − μ)·istd (the CPU's formula).
        double ca = w * istd, cb = -w * istd * istd * istd * sgx / n;
        coef[3 * c] = ca;
        coef[3 * c + 1] = cb;
        coef[3 * c + 2] = -ca * sg / n - cb * mean[c];
    }

    /// <summary>gx = A·g' + B·x + C per element, with the channel's coefficients from <see cref="GradFinish"/>.</summary>
    public static void InputGrad<T, TE>(Index1D i, ArrayView1D<T, Stride1D.Dense> gy, ArrayView1D<T, Stride1D.Dense> x,
        ArrayView1D<T, Stride1D.Dense> y, ArrayView1D<double, Stride1D.Dense> coef, ArrayView1D<T, Stride1D.Dense> gx, BatchNormGeometry geo)
        where T : unmanaged where TE : struct, IElement<T>
    {
        var e = default(TE);
        int c = Channel(i, geo);
        T gv = e.FromDouble(MaskedGrad(e, gy[i], y[i], geo.Act));
        gx[i] = e.Add(e.Add(e.Mul(gv, e.FromDouble(coef[3 * c])), e.Mul(x[i], e.FromDouble(coef[3 * c + 1]))), e.FromDouble(coef[3 * c + 2]));
    }

    private static int Channel(int i, BatchNormGeometry geo) => geo.Inner == 1 ? i % geo.Channels : i / geo.Inner % geo.Channels;

    /// <summary>g where the activation's derivative is 1 (ReLU: y &gt; 0; ReLU6: 0 &lt; y &lt; 6; the ReluBackward and
    /// Relu6Backward binary ops), else 0; g itself without an activation.</summary>
    private static double MaskedGrad<T, TE>(TE e, T g, T y, int act) where T : unmanaged where TE : struct, IElement<T>
    {
        if (act == (int)Activation.None) return e.ToDouble(g);
        double v = e.ToDouble(y);
        bool pass = act == (int)Activation.Relu ? v > 0.0 : v > 0.0 && v < 6.0;
        return pass ? e.ToDouble(g) : 0.0;
    }
}
