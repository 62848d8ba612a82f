using Sparkle.Tensors;
using Sparkle.Tensors.Autograd;

namespace Sparkle.Autograd;

/// <summary>
/// How an op defines its forward and backward together (torch.autograd.Function). The tensor-core ops
/// use it through <see cref="Recorder"/>; layers above (convolution, norms, sparse ops) use it directly:
/// <code>
/// if (!Differentiable.NeedsGrad(x, w)) return Forward(x, w);
/// Tensor y;
/// using (GradMode.NoGrad()) y = Forward(x, w);
/// return Differentiable.Record("Conv2d", y, [x, w], g => [InputGrad(g, w), WeightGrad(g, x)], saved: [x, w]);
/// </code>
/// </summary>
public static class Differentiable
{
    /// <summary>True when grad mode is on and any input requires grad: only then is recording worth it.</summary>
    public static bool NeedsGrad(Tensor a) => GradHook.Wants(a);
    public static bool NeedsGrad(Tensor a, Tensor b) => GradHook.Wants(a, b);

    public static bool NeedsGrad(params ReadOnlySpan<Tensor?> inputs)
    {
        if (!GradHook.IsEnabled) return false;
        foreach (var t in inputs) if (t is not null && t.RequiresGrad) return true;
        return false;
    }

    /// <summary>
    /// Attaches a graph node to <paramref name="output"/> (a fresh tensor computed with recording off) and
    /// returns it. <paramref name="backward"/> runs with recording off and returns one gradient per input
    /// (null where not needed). <paramref name="saved"/> lists the tensors the backward reads: if one is
    /// changed in place before the backward runs, the backward fails instead of returning wrong values.
    /// Does nothing (returns output) when grad mode is off or no input requires grad.
    /// </summary>
    public static Tensor Record(string name, Tensor output, IReadOnlyList<Tensor?> inputs, BackwardFunction backward, params ReadOnlySpan<Tensor> saved)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (!GradHook.IsEnabled) return output;
        bool any = false;
        foreach (var t in inputs) any |= t is not null && t.RequiresGrad;
        if (!any) return output;
        if (!output.DType.IsFloating()) return output;
        if (output.GradNode is not null)
            throw new InvalidOperationException($"{name}: the output already belongs to the graph ({output.GradFnName}); record a fresh tensor.");
        output.GradNode = new GradNode(name, inputs, backward, saved);
        return output;
    }
}
