using ILGPU;
using ILGPU.Runtime;
using Sparkle.Gpu.Kernels;
using Sparkle.Tensors;
using Sparkle.Tensors.Backend;

namespace Sparkle.Gpu;

/// <summary>
/// Optimizer primitives (IBackend.Optim.cs) as fused kernels (Gpu/Kernels/OptimKernels.cs), for contiguous float32/float64
/// operands (non-contiguous ones take SeamOptim's composition). Launches: SumOfSquares one per tensor + 1; AdamWStep and
/// SgdStep one per parameter; LambStep one per parameter without a trust ratio, else two per parameter + 1. Nothing is read
/// back: the clip factor is computed from the norm tensor inside the moments kernel, the trust ratios stay in a device
/// buffer. Work buffers (float64 partial sums, the trust ratios) are small and come from the pool.
/// </summary>
public sealed partial class IlgpuBackend
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<(string, Type), Delegate> _optimKernels = new();

    private TDelegate OptimKernel<TDelegate>(string name, Type t, Func<TDelegate> load) where TDelegate : Delegate =>
        (TDelegate)_optimKernels.GetOrAdd((name, t), _ => load());

    /// <summary>How one tensor of n elements is cut for the grouped kernels: enough groups to fill the device for the large
    /// tensors (at least 16 elements a thread, at most <see cref="OptimKernels.MaxGroup"/> groups), one for the small.</summary>
    private static (int Parts, int Chunk) Split(int n, int g)
    {
        if (n == 0) return (1, 1);
        int parts = Math.Clamp((n + 16 * g - 1) / (16 * g), 1, OptimKernels.MaxGroup);
        int chunk = (n + parts - 1) / parts;
        return ((n + chunk - 1) / chunk, chunk);
    }

    private static bool AllContiguous(IEnumerable<Tensor?> ts) => ts.All(t => t is null || t.IsContiguous);

    public void SumOfSquares(IReadOnlyList<Tensor> xs, Tensor dst)
    {
        if (xs.Count == 0) { Fill(dst, 0); return; }
        if (!AllContiguous(xs)) { SeamOptim.SumOfSquares(xs, dst); return; }
        switch (dst.DType)
        {
            case DType.Float32: SumOfSquares<float, F32>(xs, dst); break;
            case DType.Float64: SumOfSquares<double, F64>(xs, dst); break;
            default: SeamOptim.SumOfSquares(xs, dst); break;
        }
    }

    private void SumOfSquares<T, TE>(IReadOnlyList<Tensor> xs, Tensor dst) where T : unmanaged where TE : struct, IElement<T>
    {
        int g = ReduceGroup(), k = xs.Count;
        var splits = xs.Select(x => Split(x.NumElements, g)).ToArray();
        int slots = splits.Max(s => s.Parts);
        using var partials = New<double>(DType.Float64, k * slots, zeroed: false);
        var pv = partials.View;
        var partial = OptimKernel("sumsq", typeof(T), () => _accelerator.LoadStreamKernel<ArrayView1D<T, Stride1D.Dense>,
            ArrayView1D<double, Stride1D.Dense>, OptimOperands>(OptimKernels.SumSquaresPartial<T, TE>));
        var finish = OptimKernel("sumsq finish", typeof(T), () => _accelerator.LoadStreamKernel<ArrayView1D<double, Stride1D.Dense>,
            ArrayView1D<T, Stride1D.Dense>, int, int, int, int, int>(OptimKernels.FinishSums<T, TE>));
        var dv = View<T>(dst);
        lock (_gate)
        {
            for (int i = 0; i < k; i++)
            {
                var o = new OptimOperands { P = xs[i].Offset, N = xs[i].NumElements, Chunk = splits[i].Chunk, SlotBase = i * slots, Slots = slots };
                var xv = View<T>(xs[i]);
                int parts = splits[i].Parts;
                Timed("SumOfSquares", (long)parts * g, Profile is null ? "" : $"x {ShapeUtil.Format(xs[i].Shape)} in {parts} parts",
                    () => partial(new KernelConfig(new Index1D(parts), new Index1D(g)), xv, pv, o));
            }
            bool total = dst.Rank == 0;
            int groups = total ? 1 : k, stride = total ? 0 : dst.Strides[0];
            Timed("SumOfSquares(finish)", (long)groups * g, "",
                () => finish(new KernelConfig(new Index1D(groups), new Index1D(g)), pv, dv, slots, k, total ? 1 : 0, dst.Offset, stride));
        }
    }

    public void LambStep(IReadOnlyList<AdamSlot> slots, in LambStepParams p, Tensor? gradNorm)
    {
        if (slots.Count == 0) return;
        if (!AllContiguous(slots.SelectMany(s => new[] { s.Param, s.Grad, s.ExpAvg, s.ExpAvgSq }).Append(gradNorm)))
        {
            SeamOptim.LambStep(slots, p, gradNorm);
            return;
        }
        switch (slots[0].Param.DType)
        {
            case DType.Float32: LambStep<float, F32>(slots, p, gradNorm); break;
            case DType.Float64: LambStep<double, F64>(slots, p, gradNorm); break;
            default: throw new NotSupportedException($"LambStep supports float32 and float64, not {slots[0].Param.DType.Name()}.");
        }
    }

    private void LambStep<T, TE>(IReadOnlyList<AdamSlot> slots, LambStepParams hp, Tensor? gradNorm)
        where T : unmanaged where TE : struct, IElement<T>
    {
        int g = ReduceGroup(), k = slots.Count;
        bool trust = hp.UsesTrust;
        var splits = slots.Select(s => Split(s.Param.NumElements, g)).ToArray();
        int perTensor = splits.Max(s => s.Parts), uBase = k * perTensor;
        var a = new LambArgs
        {
            B1 = hp.Beta1, B2 = hp.Beta2, OneMinusB2 = 1 - hp.Beta2, Coef = hp.GradCoef, SqrtBc2 = Math.Sqrt(hp.Bc2), Eps = hp.Eps,
            Bc1 = hp.Bc1, Wd = hp.WeightDecay, NegLr = -hp.Lr, MaxNorm = hp.MaxGradNorm,
            Decay = hp.WeightDecay != 0 ? 1 : 0, Clipped = gradNorm is null ? 0 : 1, TrustClip = hp.TrustClip ? 1 : 0,
        };
        using var partials = New<double>(DType.Float64, trust ? 2 * k * perTensor : 1, zeroed: false);
        using var ratios = trust ? New<T>(slots[0].Param.DType, k, zeroed: false) : null;
        var pv = partials.View;
        var moments = OptimKernel("lamb moments", typeof(T), () => _accelerator.LoadStreamKernel<ArrayView1D<T, Stride1D.Dense>,
            ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>,
            ArrayView1D<double, Stride1D.Dense>, OptimOperands, LambArgs, int, int, int>(OptimKernels.LambMoments<T, TE>));
        var operands = new OptimOperands[k];
        lock (_gate)
        {
            for (int i = 0; i < k; i++)
            {
                var (param, grad, m, v) = slots[i];
                var o = operands[i] = new OptimOperands
                {
                    P = param.Offset, G = grad.Offset, M = m.Offset, V = v.Offset, N = param.NumElements,
                    Chunk = splits[i].Chunk, SlotBase = i * perTensor, Slots = perTensor,
                };
                var (pw, gw, mw, vw) = (View<T>(param), View<T>(grad), View<T>(m), View<T>(v));
                var nv = gradNorm is null ? pw : View<T>(gradNorm);
                int normOffset = gradNorm?.Offset ?? 0, parts = splits[i].Parts;
                Timed("LambStep(moments)", (long)parts * g, Profile is null ? "" : $"p {ShapeUtil.Format(param.Shape)} in {parts} parts",
                    () => moments(new KernelConfig(new Index1D(parts), new Index1D(g)), pw, gw, mw, vw, nv, pv, o, a, normOffset, trust ? 1 : 0, uBase));
            }
        }
        if (!trust) return;
        var trustKernel = OptimKernel("lamb trust", typeof(T), () => _accelerator.LoadStreamKernel<ArrayView1D<double, Stride1D.Dense>,
            ArrayView1D<T, Stride1D.Dense>, int, int, int>(OptimKernels.LambTrust<T, TE>));
        var rv = ratios!.View;
        lock (_gate)
            Timed("LambStep(trust)", (long)k * g, "",
                () => trustKernel(new KernelConfig(new Index1D(k), new Index1D(g)), pv, rv, perTensor, uBase, a.TrustClip));
        for (int i = 0; i < k; i++)
        {
            var (param, _, m, v) = slots[i];
            var (pw, mw, vw) = (View<T>(param), View<T>(m), View<T>(v));
            var o = operands[i];
            int index = i;
            Launch(param.NumElements, n => _kernels.Get<ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>,
                ArrayView1D<T, Stride1D.Dense>, OptimOperands, LambArgs, int>(OptimKernels.LambApply<T, TE>)(n, pw, mw, vw, rv, o, a, index),
                Profile is null ? "" : $"p {ShapeUtil.Format(param.Shape)}", "LambStep(apply)");
        }
    }

    public void AdamWStep(AdamSlot slot, in AdamWStepParams p)
    {
        if (!AllContiguous([slot.Param, slot.Grad, slot.ExpAvg, slot.ExpAvgSq])) { SeamOptim.AdamWStep(slot, p); return; }
        var a = new AdamWArgs
        {
            Decay = p.WeightDecay != 0 ? 1 : 0, DecayFactor = 1 - p.Lr * p.WeightDecay, B1 = p.Beta1, OneMinusB1 = 1 - p.Beta1,
            B2 = p.Beta2, OneMinusB2 = 1 - p.Beta2, SqrtBc2 = Math.Sqrt(p.Bc2), Eps = p.Eps, NegLrOverBc1 = -p.Lr / p.Bc1,
        };
        var (param, grad, m, v) = slot;
        var o = new OptimOperands { P = param.Offset, G = grad.Offset, M = m.Offset, V = v.Offset, N = param.NumElements };
        switch (param.DType)
        {
            case DType.Float32: AdamW<float, F32>(param, grad, m, v, o, a); break;
            case DType.Float64: AdamW<double, F64>(param, grad, m, v, o, a); break;
            default: throw new NotSupportedException($"AdamWStep supports float32 and float64, not {param.DType.Name()}.");
        }
    }

    private void AdamW<T, TE>(Tensor param, Tensor grad, Tensor m, Tensor v, OptimOperands o, AdamWArgs a)
        where T : unmanaged where TE : struct, IElement<T>
    {
        var (pw, gw, mw, vw) = (View<T>(param), View<T>(grad), View<T>(m), View<T>(v));
        Launch(o.N, n => _kernels.Get<ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>,
            ArrayView1D<T, Stride1D.Dense>, OptimOperands, AdamWArgs>(OptimKernels.AdamW<T, TE>)(n, pw, gw, mw, vw, o, a),
            Profile is null ? "" : $"p {ShapeUtil.Format(param.Shape)}", "AdamWStep");
    }

    public void SgdStep(Tensor param, Tensor grad, Tensor? momentumBuffer, in SgdStepParams p)
    {
        if (!AllContiguous([param, grad, momentumBuffer])) { SeamOptim.SgdStep(param, grad, momentumBuffer, p); return; }
        if (p.Momentum != 0 && momentumBuffer is null) throw new ArgumentException("SgdStep: momentum needs a momentum buffer.");
        var a = new SgdArgs
        {
            Wd = p.WeightDecay, Mom = p.Momentum, OneMinusDamp = 1 - p.Dampening, NegLr = -p.Lr,
            Decay = p.WeightDecay != 0 ? 1 : 0, Momentum = p.Momentum != 0 ? 1 : 0, First = p.FirstStep ? 1 : 0, Nesterov = p.Nesterov ? 1 : 0,
        };
        var o = new OptimOperands { P = param.Offset, G = grad.Offset, M = momentumBuffer?.Offset ?? 0, N = param.NumElements };
        switch (param.DType)
        {
            case DType.Float32: Sgd<float, F32>(param, grad, momentumBuffer ?? param, o, a); break;
            case DType.Float64: Sgd<double, F64>(param, grad, momentumBuffer ?? param, o, a); break;
            default: throw new NotSupportedException($"SgdStep supports float32 and float64, not {param.DType.Name()}.");
        }
    }

    private void Sgd<T, TE>(Tensor param, Tensor grad, Tensor buf, OptimOperands o, SgdArgs a)
        where T : unmanaged where TE : struct, IElement<T>
    {
        var (pw, gw, bw) = (View<T>(param), View<T>(grad), View<T>(buf));
        Launch(o.N, n => _kernels.Get<ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>,
            OptimOperands, SgdArgs>(OptimKernels.Sgd<T, TE>)(n, pw, gw, bw, o, a),
            Profile is null ? "" : $"p {ShapeUtil.Format(param.Shape)}", "SgdStep");
    }
}
