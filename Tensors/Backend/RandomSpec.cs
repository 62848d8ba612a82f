namespace Sparkle.Tensors.Backend;

public enum RandomKind
{
    /// <summary>Uniform in [A, B).</summary>
    Uniform,
    /// <summary>Normal with mean A and standard deviation B.</summary>
    Normal,
    /// <summary>Normal(A, B) truncated to the absolute bounds [C, D] (inverse-CDF method, as torch.nn.init.trunc_normal_).</summary>
    TruncatedNormal,
    /// <summary>1 with probability A, else 0.</summary>
    Bernoulli,
}

/// <summary>What <see cref="IBackend.Random"/> draws: a distribution and up to four parameters.</summary>
public readonly record struct RandomSpec(RandomKind Kind, double A = 0, double B = 1, double C = 0, double D = 0);
