using Sparkle.Tensors;
using Sparkle.Tensors.Backend;
using static Sparkle.Autograd.Rules.GradUtil;

namespace Sparkle.Autograd.Rules;

/// <summary>
/// Gradients of the reductions (forward: Tensor.Reduce.cs). Max/Min follow torch.amax/amin: the gradient is
/// shared evenly among the elements equal to the extreme value.
/// </summary>
internal static class ReduceRules
{
    public static Tensor Reduce(ReduceOp op, Tensor x, int[] axes, bool keepDim, int correction, Tensor y)
    {
        var shape = x.ShapeArray();
        var keep = KeepDims(shape, axes);
        int n = 1;
        foreach (int a in axes) n *= shape[a];
        return op switch
        {
            ReduceOp.Sum => Differentiable.Record("Sum", y, [x], g => [g.Reshape(keep).Expand(shape)]),
            ReduceOp.Mean => Differentiable.Record("Mean", y, [x], g => [(g / n).Reshape(keep).Expand(shape)]),
            ReduceOp.Var => Var(x, axes, keep, n - correction, y),
            ReduceOp.Max => Extreme("Max", x, axes, keep, y),
            ReduceOp.Min => Extreme("Min", x, axes, keep, y),
            _ => throw new NotSupportedException($"No gradient rule for the reduction {op}."),
        };
    }

    /// <summary>d var / dx = 2 (x - mean) / (n - correction).</summary>
    private static Tensor Var(Tensor x, int[] axes, int[] keep, int divisor, Tensor y)
        => Differentiable.Record("Var", y, [x], g => [(x - x.Mean(axes, keepDim: true)) * g.Reshape(keep) * (2.0 / divisor)], x);

    private static Tensor Extreme(string name, Tensor x, int[] axes, int[] keep, Tensor y)
        => Differentiable.Record(name, y, [x], g =>
        {
            var hits = x.Eq(y.Reshape(keep)).To(x.DType);
            return [g.Reshape(keep) * hits / hits.Sum(axes, keepDim: true)];
        }, x, y);
}
