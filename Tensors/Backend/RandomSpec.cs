namespace Sparkle.Tensors.Backend;

/// <summary>The distributions of <see cref="IBackend.Random"/>. docs/random.md defines each one bit for bit.</summary>
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
    /// <summary>Integers uniform in [A, B) (A, B whole numbers, B &gt; A).</summary>
    Randint,
}

/// <summary>What <see cref="IBackend.Random"/> draws: a distribution and up to four parameters.
/// Uniform, Normal and TruncatedNormal fill Float32/Float64 tensors; Bernoulli and Randint fill any dtype.</summary>
public readonly record struct RandomSpec(RandomKind Kind, double A = 0, double B = 1, double C = 0, double D = 0);
