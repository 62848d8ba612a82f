using Sparkle.Models;
using Sparkle.Models.Spark;
using Sparkle.Nn;
using Sparkle.Nn.Layers;
using Sparkle.Tensors;

namespace Sparkle.Tests.Support;

/// <summary>The smallest hierarchical encoder SparK accepts: two conv-BN-ReLU stages (strides 2 and 4, 4 and 8 channels),
/// so a whole Pretrainer step runs in seconds on ILGPU's CPU simulator, where a ResNet-18 step takes minutes.</summary>
internal sealed class TinyEncoder : Module, IHierarchicalEncoder
{
    public TinyEncoder(Generator g)
    {
        RegisterModule("stage1", new Sequential(new Conv2d(3, 4, 3, 2, 1, bias: false, generator: g), new BatchNorm2d(4), new ReLU()));
        RegisterModule("stage2", new Sequential(new Conv2d(4, 8, 3, 2, 1, bias: false, generator: g), new BatchNorm2d(8), new ReLU()));
    }

    public int DownsampleRatio => 4;
    public IReadOnlyList<int> FeatureMapChannels => [4, 8];

    public Tensor[] ForwardFeatures(Tensor input)
    {
        var a = Child<Module>("stage1").Forward(input);
        return [a, Child<Module>("stage2").Forward(a)];
    }

    public override Tensor Forward(Tensor input) => throw new NotSupportedException("TinyEncoder has no classifier head.");

    /// <summary>SparK on it: 8 px images (a 2x2 mask grid), decoder width 8.</summary>
    public static SparkModel Spark(ulong seed = 1) => new(new TinyEncoder(new Generator(seed)), 8, decoderWidth: 8, generator: new Generator(seed + 1));
}
