using Sparkle.Autograd;
using Sparkle.Tensors;
using Sparkle.Tensors.Backend;

namespace Sparkle.Nn.Optim;

/// <summary>Gradient-norm utilities (torch.nn.utils). LAMB clips inside its step; this is for the other
/// optimizers (SparK's separate clip path).</summary>
public static class GradClipping
{
    /// <summary>
    /// torch.nn.utils.clip_grad_norm_ with the 2-norm: total = ‖(‖g₁‖, ‖g₂‖, …)‖ over the parameters that have a
    /// gradient; every gradient is multiplied in place by min(maxNorm / (total + 1e-6), 1). Returns the total
    /// (pre-clip) norm as a 0-d tensor on the gradients' device (a 0 float32 scalar when no parameter has a
    /// gradient). The factor stays a tensor, so clipping needs no host read.
    /// </summary>
    public static Tensor ClipGradNorm_(IEnumerable<Tensor> parameters, double maxNorm)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (!(maxNorm >= 0)) throw new ArgumentOutOfRangeException(nameof(maxNorm), $"ClipGradNorm_: max norm must be >= 0, got {maxNorm}.");
        var grads = parameters.Select(p => p.Grad).OfType<Tensor>().ToList();
        if (grads.Count == 0) return Tensor.Scalar(0);
        using (GradMode.NoGrad())
        {
            var total = TotalNorm(grads);
            var coef = (maxNorm / total.Add(1e-6)).Minimum(1.0);
            foreach (var g in grads) g.Mul_(coef);
            return total;
        }
    }

    /// <summary>The 2-norm of the per-parameter gradient 2-norms (what <see cref="ClipGradNorm_"/> returns),
    /// without clipping.</summary>
    public static Tensor GradNorm(IEnumerable<Tensor> parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        var grads = parameters.Select(p => p.Grad).OfType<Tensor>().ToList();
        if (grads.Count == 0) return Tensor.Scalar(0);
        using (GradMode.NoGrad()) return TotalNorm(grads);
    }

    /// <summary>sqrt(Σ g²) over all the gradients: torch's norm of the per-tensor norms, up to rounding (one sum, no
    /// per-tensor square root), from one multi-tensor backend primitive.</summary>
    private static Tensor TotalNorm(List<Tensor> grads) => SumOfSquares(grads).Sqrt();

    /// <summary>Σ x² over all of <paramref name="xs"/>, a 0-d tensor: one <see cref="IBackend.SumOfSquares"/> per (device,
    /// dtype), the per-tensor sums added in list order (the whole list when all share one, as in training).</summary>
    internal static Tensor SumOfSquares(IReadOnlyList<Tensor> xs)
    {
        Tensor? total = null;
        foreach (var part in xs.GroupBy(x => (x.Device, x.DType)))
        {
            var list = part.ToList();
            var s = Tensor.Empty([], part.Key.DType, part.Key.Device);
            list[0].Backend.SumOfSquares(list, s);
            total = total is null ? s : total.Add(s);
        }
        return total ?? Tensor.Scalar(0);
    }
}
