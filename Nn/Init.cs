using Sparkle.Autograd;
using Sparkle.Tensors;

namespace Sparkle.Nn;

/// <summary>Nonlinearity for <see cref="Init.CalculateGain"/>.</summary>
public enum Nonlinearity { Linear, Conv, Sigmoid, Tanh, Relu, LeakyRelu }

public enum FanMode { FanIn, FanOut }

/// <summary>
/// torch.nn.init with PyTorch's semantics. All fill in place without recording and return the tensor.
/// fan_in = size(1) * receptive field, fan_out = size(0) * receptive field (receptive field = product of
/// dims 2..), exactly as torch's _calculate_fan_in_and_fan_out (so ConvTranspose weights (in, out, kh, kw) get
/// "fan_in" = out * kh * kw, as in PyTorch).
/// </summary>
public static class Init
{
    [ThreadStatic] private static bool t_skip;

    /// <summary>
    /// While the scope lives, every init function on this thread leaves its tensor untouched (torch's skip_init):
    /// build a big model only to count its parameters or to load a checkpoint into it, without paying for (or
    /// committing memory to) an init that would be overwritten.
    /// </summary>
    public static SkipScope Skip() => new(SetSkip(true));

    public static bool IsSkipping => t_skip;

    private static bool SetSkip(bool skip)
    {
        bool previous = t_skip;
        t_skip = skip;
        return previous;
    }

    public readonly struct SkipScope : IDisposable
    {
        private readonly bool _previous;
        internal SkipScope(bool previous) => _previous = previous;
        public void Dispose() => SetSkip(_previous);
    }

    public static (int FanIn, int FanOut) Fans(Tensor t)
    {
        if (t.Rank < 2) throw new ArgumentException($"Fan in and fan out need at least 2 dims, got shape {ShapeUtil.Format(t.Shape)}.");
        int receptive = 1;
        for (int d = 2; d < t.Rank; d++) receptive *= t.Size(d);
        return (t.Size(1) * receptive, t.Size(0) * receptive);
    }

    public static double CalculateGain(Nonlinearity nonlinearity, double param = 0.01) => nonlinearity switch
    {
        Nonlinearity.Linear or Nonlinearity.Conv or Nonlinearity.Sigmoid => 1,
        Nonlinearity.Tanh => 5.0 / 3,
        Nonlinearity.Relu => Math.Sqrt(2),
        Nonlinearity.LeakyRelu => Math.Sqrt(2 / (1 + param * param)),
        _ => throw new ArgumentOutOfRangeException(nameof(nonlinearity)),
    };

    /// <summary>kaiming_normal_: N(0, std²) with std = gain / sqrt(fan).</summary>
    public static Tensor KaimingNormal_(Tensor t, double a = 0, FanMode mode = FanMode.FanIn, Nonlinearity nonlinearity = Nonlinearity.LeakyRelu, Generator? generator = null)
    {
        if (t_skip) return t;
        double std = CalculateGain(nonlinearity, a) / Math.Sqrt(Fan(t, mode));
        using var _ = GradMode.NoGrad();
        return t.Normal_(0, std, generator);
    }

    /// <summary>kaiming_uniform_: U(-bound, bound) with bound = gain * sqrt(3 / fan).</summary>
    public static Tensor KaimingUniform_(Tensor t, double a = 0, FanMode mode = FanMode.FanIn, Nonlinearity nonlinearity = Nonlinearity.LeakyRelu, Generator? generator = null)
    {
        double bound = CalculateGain(nonlinearity, a) * Math.Sqrt(3.0 / Fan(t, mode));
        return Uniform_(t, -bound, bound, generator);
    }

    public static Tensor XavierUniform_(Tensor t, double gain = 1, Generator? generator = null)
    {
        var (fanIn, fanOut) = Fans(t);
        double bound = gain * Math.Sqrt(6.0 / (fanIn + fanOut));
        return Uniform_(t, -bound, bound, generator);
    }

    /// <summary>trunc_normal_: N(mean, std²) truncated to the absolute bounds [a, b] (timm/torch semantics: a and b
    /// are values, not multiples of std).</summary>
    public static Tensor TruncNormal_(Tensor t, double mean = 0, double std = 1, double a = -2, double b = 2, Generator? generator = null)
    {
        if (t_skip) return t;
        using var _ = GradMode.NoGrad();
        return t.TruncNormal_(mean, std, a, b, generator);
    }

    public static Tensor Uniform_(Tensor t, double low = 0, double high = 1, Generator? generator = null)
    {
        if (t_skip) return t;
        using var _ = GradMode.NoGrad();
        return t.Uniform_(low, high, generator);
    }

    public static Tensor Normal_(Tensor t, double mean = 0, double std = 1, Generator? generator = null)
    {
        if (t_skip) return t;
        using var _ = GradMode.NoGrad();
        return t.Normal_(mean, std, generator);
    }

    public static Tensor Constant_(Tensor t, double value)
    {
        if (t_skip) return t;
        using var _ = GradMode.NoGrad();
        return t.Fill_(value);
    }

    public static Tensor Zeros_(Tensor t) => Constant_(t, 0);
    public static Tensor Ones_(Tensor t) => Constant_(t, 1);

    /// <summary>PyTorch's default for Conv*d and Linear (reset_parameters): weight kaiming_uniform_(a=√5), i.e.
    /// U(±1/√fan_in); bias U(±1/√fan_in) with the weight's fan_in.</summary>
    public static void DefaultLayerInit(Tensor weight, Tensor? bias, Generator? generator = null)
    {
        KaimingUniform_(weight, a: Math.Sqrt(5), generator: generator);
        if (bias is null) return;
        int fanIn = Fans(weight).FanIn;
        double bound = fanIn > 0 ? 1 / Math.Sqrt(fanIn) : 0;
        Uniform_(bias, -bound, bound, generator);
    }

    private static int Fan(Tensor t, FanMode mode)
    {
        var (fanIn, fanOut) = Fans(t);
        int fan = mode == FanMode.FanIn ? fanIn : fanOut;
        if (fan == 0) throw new ArgumentException($"Cannot initialise a tensor with zero fan: shape {ShapeUtil.Format(t.Shape)}.");
        return fan;
    }
}
