using Sparkle.Tensors;

namespace Sparkle.Nn;

/// <summary>Dropout and stochastic depth. Both are identity in evaluation mode and scale kept values by
/// 1/(1-p) in training, so expectations match.</summary>
public static partial class Functional
{
    public static Tensor Dropout(Tensor input, double p, bool training, Generator? generator = null)
    {
        if (p < 0 || p > 1) throw new ArgumentException($"Dropout: p must be in [0, 1], got {p}.");
        if (!training || p == 0) return input;
        if (p == 1) return input * 0.0;
        var keep = Tensor.Zeros(input.ShapeArray(), input.DType, input.Device).Bernoulli_(1 - p, generator);
        return input * keep * (1 / (1 - p));
    }

    /// <summary>timm's drop_path: each sample (dim 0) is dropped whole with probability p, survivors scaled by 1/(1-p).</summary>
    public static Tensor DropPath(Tensor input, double p, bool training, Generator? generator = null)
    {
        if (p < 0 || p >= 1) throw new ArgumentException($"DropPath: p must be in [0, 1), got {p}.");
        if (!training || p == 0) return input;
        var shape = Enumerable.Repeat(1, input.Rank).ToArray();
        shape[0] = input.Size(0);
        var keep = Tensor.Zeros(shape, input.DType, input.Device).Bernoulli_(1 - p, generator);
        return input * keep * (1 / (1 - p));
    }
}
