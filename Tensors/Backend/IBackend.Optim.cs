namespace Sparkle.Tensors.Backend;

/// <summary>
/// Optimizer primitives (issue 15): whole updates fused per parameter tensor, and the multi-tensor sums of squares
/// behind LAMB's global gradient norm and per-tensor trust ratios, so that a step is a few launches per parameter
/// instead of ~20 elementwise ops, and reads nothing back to the host (norms and factors stay device tensors).
/// The defaults compose existing primitives (<see cref="SeamOptim"/>), so a backend without kernels of its own still
/// steps; the CPU (Tensors/Cpu/Optim) and ILGPU backends implement them directly. Operands are the same dtype
/// (float32 or float64) and on this backend; all updates are in place. Formulas: docs/nn-optim.md.
/// </summary>
public partial interface IBackend
{
    /// <summary>Sums of squares of every element: dst (k) gets Σ xs[i]² per tensor; a 0-d dst gets the total, the
    /// per-tensor sums added in list order. dst has the xs' dtype.</summary>
    void SumOfSquares(IReadOnlyList<Tensor> xs, Tensor dst) => SeamOptim.SumOfSquares(xs, dst);

    /// <summary>One LAMB step over the parameters of one group. With <paramref name="gradNorm"/> (a 0-d tensor: the
    /// pre-clip global gradient norm) every gradient is first multiplied in place by 1 / max(norm / max_grad_norm, 1).
    /// Then per tensor: the moments, the update, its trust ratio (if <see cref="LambStepParams.UsesTrust"/>) and
    /// p −= lr · trust · update.</summary>
    void LambStep(IReadOnlyList<AdamSlot> slots, in LambStepParams p, Tensor? gradNorm) => SeamOptim.LambStep(slots, p, gradNorm);

    /// <summary>One AdamW step of one parameter: decoupled decay, the moments, p −= lr/bc1 · m / (sqrt(v)/sqrt(bc2) + eps).</summary>
    void AdamWStep(AdamSlot slot, in AdamWStepParams p) => SeamOptim.AdamWStep(slot, p);

    /// <summary>One SGD step of one parameter; <paramref name="momentumBuffer"/> is null without momentum.</summary>
    void SgdStep(Tensor param, Tensor grad, Tensor? momentumBuffer, in SgdStepParams p) => SeamOptim.SgdStep(param, grad, momentumBuffer, p);
}
