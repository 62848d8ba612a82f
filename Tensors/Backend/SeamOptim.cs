using Sparkle.Tensors.Autograd;

namespace Sparkle.Tensors.Backend;

/// <summary>
/// The optimizer primitives of <see cref="IBackend"/> written once in other seam primitives (in-place elementwise ops,
/// sums): the composition the optimizers used before they had kernels, op for op, so a backend without optimizer kernels
/// gets the same bits as the CPU kernels (Tensors/Cpu/Optim follow the same operation order). It costs ~15-25 launches and
/// a few parameter-sized temporaries per parameter. Backends with kernels also come here for operands that are not
/// contiguous.
/// </summary>
public static class SeamOptim
{
    public static void SumOfSquares(IReadOnlyList<Tensor> xs, Tensor dst)
    {
        using var _ = GradHook.Pause();
        Tensor? total = null;
        for (int i = 0; i < xs.Count; i++)
        {
            var s = xs[i].Mul(xs[i]).Sum();
            if (dst.Rank == 0) total = total is null ? s : total.Add(s);
            else dst.Narrow(0, i, 1).Copy_(s.Reshape(1));
        }
        if (dst.Rank == 0) dst.Copy_(total ?? Tensor.Scalar(0, dst.DType, dst.Device));
    }

    /// <summary>The clip factor 1 / max(norm / maxNorm, 1), a 0-d tensor like <paramref name="gradNorm"/>.</summary>
    public static Tensor ClipFactor(Tensor gradNorm, double maxNorm) => 1.0 / gradNorm.Div(maxNorm).Maximum(1.0);

    public static void LambStep(IReadOnlyList<AdamSlot> slots, in LambStepParams p, Tensor? gradNorm)
    {
        using var _ = GradHook.Pause();
        var clip = gradNorm is null ? null : ClipFactor(gradNorm, p.MaxGradNorm);
        foreach (var (param, g, m, v) in slots)
        {
            if (clip is not null) g.Mul_(clip);
            var scratch = g.Mul(g);
            v.Mul_(p.Beta2).Add_(scratch.Mul_(1 - p.Beta2));
            m.Mul_(p.Beta1).Add_(scratch.Copy_(g).Mul_(p.GradCoef));
            var denom = scratch.Copy_(v).Sqrt_().Div_(Math.Sqrt(p.Bc2)).Add_(p.Eps);
            var update = m.Clone().Div_(denom).Div_(p.Bc1);
            if (p.WeightDecay != 0) update.Add_(scratch.Copy_(param).Mul_(p.WeightDecay));
            if (p.UsesTrust)
            {
                var wNorm = scratch.Copy_(param).Mul_(param).Sum().Sqrt();
                var uNorm = scratch.Copy_(update).Mul_(update).Sum().Sqrt();
                var trust = Tensor.Where(wNorm.Gt(0), Tensor.Where(uNorm.Gt(0), wNorm.Div(uNorm), 1.0), 1.0);
                if (p.TrustClip) trust = trust.Minimum(1.0);
                update.Mul_(trust);
            }
            param.Add_(update.Mul_(-p.Lr));
        }
    }

    public static void AdamWStep(AdamSlot slot, in AdamWStepParams p)
    {
        using var _ = GradHook.Pause();
        var (param, g, m, v) = slot;
        if (p.WeightDecay != 0) param.Mul_(1 - p.Lr * p.WeightDecay);
        var scratch = g.Mul(g);
        v.Mul_(p.Beta2).Add_(scratch.Mul_(1 - p.Beta2));
        m.Mul_(p.Beta1).Add_(scratch.Copy_(g).Mul_(1 - p.Beta1));
        var denom = scratch.Copy_(v).Sqrt_().Div_(Math.Sqrt(p.Bc2)).Add_(p.Eps);
        param.Add_(m.Clone().Div_(denom).Mul_(-p.Lr / p.Bc1));
    }

    public static void SgdStep(Tensor param, Tensor grad, Tensor? buf, in SgdStepParams p)
    {
        using var _ = GradHook.Pause();
        // d is either the gradient itself (never written) or a temporary this step owns
        Tensor d = grad;
        bool owned = false;
        if (p.WeightDecay != 0) { d = param.Mul(p.WeightDecay).Add_(grad); owned = true; }
        if (p.Momentum != 0)
        {
            if (buf is null) throw new ArgumentException("SgdStep: momentum needs a momentum buffer.");
            if (p.FirstStep) buf.Copy_(d);
            else buf.Mul_(p.Momentum).Add_(d, 1 - p.Dampening);
            if (p.Nesterov)
            {
                if (owned) d.Add_(buf, p.Momentum);
                else { d = buf.Mul(p.Momentum).Add_(grad); owned = true; }
            }
            else { d = buf; owned = false; }
        }
        if (owned) param.Add_(d.Mul_(-p.Lr));
        else param.Add_(d, -p.Lr);
    }
}
