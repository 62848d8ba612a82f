using Sparkle.Tensors;

namespace Sparkle.Nn;

/// <summary>How a loss combines per-element values (torch's reduction argument).</summary>
public enum Reduction { Mean, Sum, None }

/// <summary>Softmax and losses with PyTorch semantics.</summary>
public static partial class Functional
{
    /// <summary>log(softmax(x)) along dim, computed stably (the max is subtracted first).</summary>
    public static Tensor LogSoftmax(Tensor input, int dim)
    {
        var shifted = input - input.Max([dim], keepDim: true).Detach();
        return shifted - shifted.Exp().Sum([dim], keepDim: true).Log();
    }

    public static Tensor Softmax(Tensor input, int dim)
    {
        var e = (input - input.Max([dim], keepDim: true).Detach()).Exp();
        return e / e.Sum([dim], keepDim: true);
    }

    public static Tensor MseLoss(Tensor input, Tensor target, Reduction reduction = Reduction.Mean)
    {
        if (!ShapeUtil.SameShape(input.Shape, target.Shape))
            throw new ArgumentException($"MseLoss: input {ShapeUtil.Format(input.Shape)} and target {ShapeUtil.Format(target.Shape)} must have the same shape.");
        return Reduce((input - target).Square(), reduction);
    }

    /// <summary>
    /// torch.nn.functional.cross_entropy on logits (N, C) or (N, C, d1, ...). The target is either class indices
    /// (int64/int32 of shape (N) or (N, d1, ...); entries equal to <paramref name="ignoreIndex"/> are skipped and
    /// the mean is over the others) or class probabilities (floating, the logits' shape: soft targets, e.g.
    /// mixup). Label smoothing ε mixes the target with the uniform distribution: (1-ε)·target + ε/C.
    /// </summary>
    public static Tensor CrossEntropy(Tensor logits, Tensor target, double labelSmoothing = 0, Reduction reduction = Reduction.Mean, long ignoreIndex = -100)
    {
        if (logits.Rank < 2) throw new ArgumentException($"CrossEntropy expects logits (N, C, ...), got shape {ShapeUtil.Format(logits.Shape)}.");
        if (labelSmoothing < 0 || labelSmoothing > 1) throw new ArgumentException($"CrossEntropy: label smoothing must be in [0, 1], got {labelSmoothing}.");
        int classes = logits.Size(1);
        var logp = LogSoftmax(logits, 1);
        if (target.DType.IsFloating())
        {
            if (!ShapeUtil.SameShape(target.Shape, logits.Shape))
                throw new ArgumentException($"CrossEntropy: soft targets {ShapeUtil.Format(target.Shape)} must have the logits' shape {ShapeUtil.Format(logits.Shape)}.");
            var t = labelSmoothing > 0 ? target * (1 - labelSmoothing) + labelSmoothing / classes : target;
            return Reduce((logp * t).Sum([1]).Neg(), reduction);
        }
        var expected = logits.ShapeArray().Where((_, i) => i != 1).ToArray();
        if (!ShapeUtil.SameShape(target.Shape, expected))
            throw new ArgumentException($"CrossEntropy: class-index target {ShapeUtil.Format(target.Shape)} must have shape {ShapeUtil.Format(expected)} for logits {ShapeUtil.Format(logits.Shape)}.");
        var labels = target.To(DType.Int64);
        var valid = labels.Ne(ignoreIndex);
        var safe = labels.MaskedFill(valid.LogicalNot(), 0);
        var bad = safe.Lt(0).LogicalOr(safe.Ge(classes));
        if (bad.Sum().Item() > 0)
            throw new ArgumentException($"CrossEntropy: target holds class indices outside [0, {classes}).");
        var nll = logp.Gather(1, safe.Unsqueeze(1)).Squeeze(1).Neg();
        var loss = labelSmoothing > 0 ? nll * (1 - labelSmoothing) + logp.Mean([1]).Neg() * labelSmoothing : nll;
        var weight = valid.To(logits.DType);
        loss = loss * weight;
        return reduction switch
        {
            Reduction.Mean => loss.Sum() / weight.Sum(),
            Reduction.Sum => loss.Sum(),
            _ => loss,
        };
    }

    private static Tensor Reduce(Tensor loss, Reduction reduction) => reduction switch
    {
        Reduction.Mean => loss.Mean(),
        Reduction.Sum => loss.Sum(),
        _ => loss,
    };
}
