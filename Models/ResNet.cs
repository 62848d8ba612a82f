using Sparkle.Nn;
using Sparkle.Nn.Layers;
using Sparkle.Tensors;

namespace Sparkle.Models;

/// <summary>
/// timm's ResNet (v1.5: the stride sits on the first block's 3x3 conv), key for key (SPARK.md §4.1): conv1/bn1 stem with
/// a 3x3/2 max-pool, layer1..4, optional fc. zero_init_last_bn, drop path rate dp·j/(N-1) over the global block index j.
/// The small-image variant (<see cref="ResNetConfig.SmallStem"/>) uses a 3x3 stride-1 stem conv and no max-pool, so the
/// total stride is 8 and 32-96 px inputs keep useful maps (mask patch = 8).
/// </summary>
public sealed class ResNet : Module, IHierarchicalEncoder
{
    private readonly ResNetConfig _config;

    public ResNet(ResNetConfig config, ModelOptions? options = null)
    {
        options ??= new ModelOptions();
        _config = config;
        var (dt, g) = (options.DType, options.Generator);
        int stemOut = config.BaseWidth;
        RegisterModule<Module>("conv1", config.SmallStem
            ? new Conv2d(3, stemOut, 3, stride: 1, padding: 1, bias: false, dtype: dt, generator: g)
            : new Conv2d(3, stemOut, 7, stride: 2, padding: 3, bias: false, dtype: dt, generator: g));
        RegisterModule("bn1", new BatchNorm2d(stemOut, dtype: dt));
        RegisterModule("act1", new ReLU());
        RegisterModule<Module>("maxpool", config.SmallStem ? new Identity() : new MaxPool2d(3, 2, 1));

        int totalBlocks = config.Depths.Sum(), blockIndex = 0, inplanes = stemOut;
        int w0 = config.BaseWidth;
        int[] planes = [w0, 2 * w0, 4 * w0, 8 * w0];
        var channels = new List<int>();
        for (int stage = 0; stage < 4; stage++)
        {
            var layer = new Sequential();
            for (int b = 0; b < config.Depths[stage]; b++)
            {
                int stride = b == 0 && stage > 0 ? 2 : 1;
                double dp = totalBlocks > 1 ? options.DropPath * blockIndex / (totalBlocks - 1) : 0;
                Module block = config.Bottleneck
                    ? new Bottleneck(inplanes, planes[stage], stride, dp, dt, g)
                    : new BasicBlock(inplanes, planes[stage], stride, dp, dt, g);
                layer.Append(block);
                inplanes = planes[stage] * (config.Bottleneck ? Bottleneck.Expansion : 1);
                blockIndex++;
            }
            RegisterModule($"layer{stage + 1}", layer);
            channels.Add(inplanes);
        }
        FeatureMapChannels = channels;
        if (options.NumClasses > 0)
            RegisterModule("fc", new Linear(inplanes, options.NumClasses, dtype: dt, generator: g));

        if (options.Initialize)
        {
            ModelInit.ResNetConvs(this, g);
            foreach (var (_, m) in NamedModules())
                if (m is IZeroInitLast z) z.ZeroInitLastBn();
        }
    }

    public static ResNet ResNet18(ModelOptions? o = null, bool smallStem = false) => Variant("resnet18", o, smallStem);
    public static ResNet ResNet34(ModelOptions? o = null, bool smallStem = false) => Variant("resnet34", o, smallStem);
    public static ResNet ResNet50(ModelOptions? o = null, bool smallStem = false) => Variant("resnet50", o, smallStem);
    public static ResNet ResNet101(ModelOptions? o = null, bool smallStem = false) => Variant("resnet101", o, smallStem);
    public static ResNet ResNet152(ModelOptions? o = null, bool smallStem = false) => Variant("resnet152", o, smallStem);
    public static ResNet ResNet200(ModelOptions? o = null, bool smallStem = false) => Variant("resnet200", o, smallStem);

    /// <summary>timm's ResNet sizes: blocks per stage and block type (BasicBlock or Bottleneck).</summary>
    private static readonly (string Name, int[] Depths, bool Bottleneck)[] Variants =
    [
        ("resnet18", [2, 2, 2, 2], false), ("resnet34", [3, 4, 6, 3], false), ("resnet50", [3, 4, 6, 3], true),
        ("resnet101", [3, 4, 23, 3], true), ("resnet152", [3, 8, 36, 3], true), ("resnet200", [3, 24, 36, 3], true),
    ];

    private static ResNet Variant(string name, ModelOptions? o, bool smallStem)
    {
        var v = Variants.Single(v => v.Name == name);
        return new(new ResNetConfig(v.Depths, v.Bottleneck, smallStem), o);
    }

    /// <summary>The timm name of a ResNet of these depths and block type at the standard width 64 (null: none).</summary>
    public static string? VariantName(IReadOnlyList<int> depths, bool bottleneck) =>
        Variants.FirstOrDefault(v => v.Bottleneck == bottleneck && v.Depths.SequenceEqual(depths)).Name;

    /// <summary>SparK's pre-training drop-path defaults (SPARK.md §4.1): R50 0.05, R101 0.08, R152 0.10, R200 0.15; 0 for R18/34.</summary>
    public static double PretrainDropPath(string name) => name switch
    {
        "resnet50" => 0.05, "resnet101" => 0.08, "resnet152" => 0.10, "resnet200" => 0.15, _ => 0,
    };

    public int DownsampleRatio => _config.SmallStem ? 8 : 32;
    public IReadOnlyList<int> FeatureMapChannels { get; }

    public Tensor[] ForwardFeatures(Tensor input)
    {
        var x = Stem(input);
        var maps = new Tensor[4];
        for (int i = 0; i < 4; i++) maps[i] = x = Child<Module>($"layer{i + 1}").Forward(x);
        return maps;
    }

    public override Tensor Forward(Tensor input)
    {
        var fc = NamedChildren().Any(c => c.Name == "fc") ? Child<Linear>("fc")
            : throw new InvalidOperationException("This ResNet was built without a classification head (NumClasses = 0).");
        var x = ForwardFeatures(input)[^1];
        return fc.Forward(x.Mean([2, 3]));
    }

    private Tensor Stem(Tensor x)
    {
        x = BatchNorm.ForwardThen(Child<Module>("bn1"), Child<Module>("act1"), Child<Module>("conv1").Forward(x));
        return Child<Module>("maxpool").Forward(x);
    }
}

/// <summary>Depths per stage, block type, stem variant.</summary>
/// <summary>A ResNet's shape: blocks per stage, block type, the 3x3 stride-1 stem for small images, and the stem/first-stage
/// width (timm's 64; stages are 1, 2, 4, 8 times it — narrower widths make small test models of the same structure).</summary>
public sealed record ResNetConfig(int[] Depths, bool Bottleneck, bool SmallStem = false, int BaseWidth = 64);

/// <summary>A block whose last BN starts at γ = 0 (timm's zero_init_last_bn): each residual branch starts as zero.</summary>
internal interface IZeroInitLast
{
    void ZeroInitLastBn();
}

/// <summary>timm BasicBlock: 3x3 (stride) -> BN -> ReLU -> 3x3 -> BN -> DropPath -> + shortcut -> ReLU.</summary>
public sealed class BasicBlock : Module, IZeroInitLast
{
    public BasicBlock(int inplanes, int planes, int stride, double dropPath, DType dt, Generator? g)
    {
        RegisterModule("conv1", new Conv2d(inplanes, planes, 3, stride, 1, bias: false, dtype: dt, generator: g));
        RegisterModule("bn1", new BatchNorm2d(planes, dtype: dt));
        RegisterModule("act1", new ReLU());
        RegisterModule("conv2", new Conv2d(planes, planes, 3, 1, 1, bias: false, dtype: dt, generator: g));
        RegisterModule("bn2", new BatchNorm2d(planes, dtype: dt));
        RegisterModule("act2", new ReLU());
        if (dropPath > 0) RegisterModule("drop_path", new DropPath(dropPath, g));
        if (stride != 1 || inplanes != planes)
            RegisterModule("downsample", new Sequential(
                new Conv2d(inplanes, planes, 1, stride, 0, bias: false, dtype: dt, generator: g), new BatchNorm2d(planes, dtype: dt)));
    }

    public void ZeroInitLastBn() => Init.Zeros_(Child<BatchNorm2d>("bn2").Weight!);

    public override Tensor Forward(Tensor x)
    {
        var y = BatchNorm.ForwardThen(Child<Module>("bn1"), Child<Module>("act1"), Child<Module>("conv1").Forward(x));
        y = Child<Module>("bn2").Forward(Child<Module>("conv2").Forward(y));
        y = Blocks.DropPath(this, y);
        return Child<Module>("act2").Forward(y + Blocks.Shortcut(this, x));
    }
}

/// <summary>timm Bottleneck (expansion 4): 1x1 -> BN -> ReLU -> 3x3 (stride) -> BN -> ReLU -> 1x1 -> BN -> DropPath -> + shortcut -> ReLU.</summary>
public sealed class Bottleneck : Module, IZeroInitLast
{
    public const int Expansion = 4;

    public Bottleneck(int inplanes, int planes, int stride, double dropPath, DType dt, Generator? g)
    {
        int outplanes = planes * Expansion;
        RegisterModule("conv1", new Conv2d(inplanes, planes, 1, bias: false, dtype: dt, generator: g));
        RegisterModule("bn1", new BatchNorm2d(planes, dtype: dt));
        RegisterModule("act1", new ReLU());
        RegisterModule("conv2", new Conv2d(planes, planes, 3, stride, 1, bias: false, dtype: dt, generator: g));
        RegisterModule("bn2", new BatchNorm2d(planes, dtype: dt));
        RegisterModule("act2", new ReLU());
        RegisterModule("conv3", new Conv2d(planes, outplanes, 1, bias: false, dtype: dt, generator: g));
        RegisterModule("bn3", new BatchNorm2d(outplanes, dtype: dt));
        RegisterModule("act3", new ReLU());
        if (dropPath > 0) RegisterModule("drop_path", new DropPath(dropPath, g));
        if (stride != 1 || inplanes != outplanes)
            RegisterModule("downsample", new Sequential(
                new Conv2d(inplanes, outplanes, 1, stride, 0, bias: false, dtype: dt, generator: g), new BatchNorm2d(outplanes, dtype: dt)));
    }

    public void ZeroInitLastBn() => Init.Zeros_(Child<BatchNorm2d>("bn3").Weight!);

    public override Tensor Forward(Tensor x)
    {
        var y = BatchNorm.ForwardThen(Child<Module>("bn1"), Child<Module>("act1"), Child<Module>("conv1").Forward(x));
        y = BatchNorm.ForwardThen(Child<Module>("bn2"), Child<Module>("act2"), Child<Module>("conv2").Forward(y));
        y = Child<Module>("bn3").Forward(Child<Module>("conv3").Forward(y));
        y = Blocks.DropPath(this, y);
        return Child<Module>("act3").Forward(y + Blocks.Shortcut(this, x));
    }
}

/// <summary>The optional parts of a residual block, looked up by name.</summary>
internal static class Blocks
{
    public static Tensor DropPath(Module block, Tensor y) =>
        block.NamedChildren().FirstOrDefault(c => c.Name == "drop_path").Module is { } dp ? dp.Forward(y) : y;

    public static Tensor Shortcut(Module block, Tensor x) =>
        block.NamedChildren().FirstOrDefault(c => c.Name == "downsample").Module is { } ds ? ds.Forward(x) : x;
}
