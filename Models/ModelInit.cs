using Sparkle.Nn;
using Sparkle.Nn.Layers;
using Sparkle.Tensors;

namespace Sparkle.Models;

/// <summary>Construction options shared by the model families.</summary>
public sealed record ModelOptions
{
    /// <summary>Parameter dtype (float64 for gradient checks and oracles).</summary>
    public DType DType { get; init; } = DType.Float32;

    /// <summary>Seed source for the initial weights.</summary>
    public Generator? Generator { get; init; }

    /// <summary>False builds the module tree with zero weights and skips the init (parameter counting, loading a
    /// checkpoint right after): big models then cost no init time, and untouched zero pages cost no memory.</summary>
    public bool Initialize { get; init; } = true;

    /// <summary>Stochastic depth rate of the last block (rates grow with depth, family rules in each model).</summary>
    public double DropPath { get; init; }

    /// <summary>Classes of the classification head; 0 builds none (SparK pre-training, timm's num_classes=0).</summary>
    public int NumClasses { get; init; }
}

internal static class ModelInit
{
    /// <summary>timm ResNet: every Conv2d kaiming_normal(fan_out, relu); BN γ=1, β=0 (their construction values).</summary>
    public static void ResNetConvs(Module root, Generator? g)
    {
        foreach (var (_, m) in root.NamedModules())
            if (m is Conv2d conv) Init.KaimingNormal_(conv.Weight, mode: FanMode.FanOut, nonlinearity: Nonlinearity.Relu, generator: g);
    }

    /// <summary>ConvNeXt: Conv2d and Linear weights trunc_normal(std .02, bounds ±2), biases 0.</summary>
    public static void ConvNeXtWeights(Module root, Generator? g)
    {
        foreach (var (_, m) in root.NamedModules())
        {
            var (w, b) = m switch
            {
                Conv2d c => (c.Weight, c.Bias),
                Linear l => (l.Weight, l.Bias),
                _ => ((Tensor?)null, (Tensor?)null),
            };
            if (w is null) continue;
            Init.TruncNormal_(w, std: 0.02, generator: g);
            if (b is not null) Init.Zeros_(b);
        }
    }
}
