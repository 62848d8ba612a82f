using Sparkle.Nn;
using Sparkle.Nn.Layers;
using Sparkle.Sparse;
using Sparkle.Tensors;

namespace Sparkle.Models;

/// <summary>
/// The official (facebookresearch) ConvNeXt, key for key (SPARK.md §4.2): downsample_layers.{0..3} (stem 4x4/4 conv + LN,
/// then LN + 2x2/2 conv), stages.{i}.{j} blocks, and with a head: norm + head. LayerNorms use eps 1e-6; drop path rates
/// are linspace(0, dp, sum(depths)); Conv2d/Linear weights trunc_normal(.02), biases 0; layer scale γ starts at 1e-6.
/// </summary>
public sealed class ConvNeXt : Module, IHierarchicalEncoder
{
    private readonly int[] _dims;

    public ConvNeXt(int[] depths, int[] dims, ModelOptions? options = null)
    {
        options ??= new ModelOptions();
        var (dt, g) = (options.DType, options.Generator);
        _dims = (int[])dims.Clone();
        var downsample = RegisterModule("downsample_layers", new ModuleList());
        downsample.Add(new Sequential(new Conv2d(3, dims[0], 4, stride: 4, dtype: dt, generator: g), new LayerNorm2d(dims[0], 1e-6, dt)));
        for (int i = 1; i < 4; i++)
            downsample.Add(new Sequential(new LayerNorm2d(dims[i - 1], 1e-6, dt), new Conv2d(dims[i - 1], dims[i], 2, stride: 2, dtype: dt, generator: g)));

        var stages = RegisterModule("stages", new ModuleList());
        int total = depths.Sum(), index = 0;
        for (int i = 0; i < 4; i++)
        {
            var stage = new Sequential();
            for (int j = 0; j < depths[i]; j++, index++)
                stage.Append(new ConvNeXtBlock(dims[i], total > 1 ? options.DropPath * index / (total - 1) : 0, dt, g));
            stages.Add(stage);
        }
        if (options.NumClasses > 0)
        {
            RegisterModule("norm", new LayerNorm(dims[3], 1e-6, dtype: dt));
            RegisterModule("head", new Linear(dims[3], options.NumClasses, dtype: dt, generator: g));
        }
        if (options.Initialize) ModelInit.ConvNeXtWeights(this, g);
    }

    public static ConvNeXt Tiny(ModelOptions? o = null) => Variant("convnext_tiny", o);
    public static ConvNeXt Small(ModelOptions? o = null) => Variant("convnext_small", o);
    public static ConvNeXt Base(ModelOptions? o = null) => Variant("convnext_base", o);
    public static ConvNeXt Large(ModelOptions? o = null) => Variant("convnext_large", o);
    public static ConvNeXt Atto(ModelOptions? o = null) => Variant("convnext_atto", o);
    public static ConvNeXt Femto(ModelOptions? o = null) => Variant("convnext_femto", o);
    public static ConvNeXt Pico(ModelOptions? o = null) => Variant("convnext_pico", o);
    public static ConvNeXt Nano(ModelOptions? o = null) => Variant("convnext_nano", o);

    /// <summary>The official sizes (tiny..large) and timm's small ones (atto..nano, with the official block): depths, dims.</summary>
    private static readonly (string Name, int[] Depths, int[] Dims)[] Variants =
    [
        ("convnext_atto", [2, 2, 6, 2], [40, 80, 160, 320]), ("convnext_femto", [2, 2, 6, 2], [48, 96, 192, 384]),
        ("convnext_pico", [2, 2, 6, 2], [64, 128, 256, 512]), ("convnext_nano", [2, 2, 8, 2], [80, 160, 320, 640]),
        ("convnext_tiny", [3, 3, 9, 3], [96, 192, 384, 768]), ("convnext_small", [3, 3, 27, 3], [96, 192, 384, 768]),
        ("convnext_base", [3, 3, 27, 3], [128, 256, 512, 1024]), ("convnext_large", [3, 3, 27, 3], [192, 384, 768, 1536]),
    ];

    private static ConvNeXt Variant(string name, ModelOptions? o)
    {
        var v = Variants.Single(v => v.Name == name);
        return new(v.Depths, v.Dims, o);
    }

    /// <summary>The name of a ConvNeXt of these depths and widths (null: none).</summary>
    public static string? VariantName(IReadOnlyList<int> depths, IReadOnlyList<int> dims) =>
        Variants.FirstOrDefault(v => v.Depths.SequenceEqual(depths) && v.Dims.SequenceEqual(dims)).Name;

    /// <summary>SparK's pre-training drop-path defaults (SPARK.md §4.2): S 0.2, B 0.3, L 0.4 (T and the small sizes: 0.1, our choice).</summary>
    public static double PretrainDropPath(string name) => name switch
    {
        "convnext_small" => 0.2, "convnext_base" => 0.3, "convnext_large" => 0.4, _ => 0.1,
    };

    public int DownsampleRatio => 32;
    public IReadOnlyList<int> FeatureMapChannels => _dims;

    public Tensor[] ForwardFeatures(Tensor input)
    {
        var downsample = Child<ModuleList>("downsample_layers");
        var stages = Child<ModuleList>("stages");
        var maps = new Tensor[4];
        var x = input;
        for (int i = 0; i < 4; i++) maps[i] = x = stages[i].Forward(downsample[i].Forward(x));
        return maps;
    }

    public override Tensor Forward(Tensor input)
    {
        if (!NamedChildren().Any(c => c.Name == "head"))
            throw new InvalidOperationException("This ConvNeXt was built without a classification head (NumClasses = 0).");
        var pooled = ForwardFeatures(input)[^1].Mean([2, 3]);
        return Child<Module>("head").Forward(Child<Module>("norm").Forward(pooled));
    }
}

/// <summary>
/// ConvNeXt block: 7x7 depthwise conv -> NHWC -> LN -> Linear(4x) -> GELU -> Linear -> γ -> NCHW -> re-mask (sparse mode:
/// the Linear biases make masked sites non-zero) -> DropPath -> + input.
/// </summary>
public sealed class ConvNeXtBlock : Module
{
    public ConvNeXtBlock(int dim, double dropPath, DType dt, Generator? g)
    {
        RegisterModule("dwconv", new Conv2d(dim, dim, 7, padding: 3, groups: dim, dtype: dt, generator: g));
        RegisterModule("norm", new LayerNorm(dim, 1e-6, dtype: dt));
        RegisterModule("pwconv1", new Linear(dim, 4 * dim, dtype: dt, generator: g));
        RegisterModule("act", new GELU());
        RegisterModule("pwconv2", new Linear(4 * dim, dim, dtype: dt, generator: g));
        Gamma = RegisterParameter("gamma", Tensor.Full([dim], 1e-6, dt));
        if (dropPath > 0) RegisterModule("drop_path", new DropPath(dropPath, g));
    }

    /// <summary>Layer scale (official key "gamma").</summary>
    public Tensor Gamma { get; }

    public override Tensor Forward(Tensor x)
    {
        var y = Child<Module>("dwconv").Forward(x).Permute(0, 2, 3, 1);
        y = Child<Module>("pwconv2").Forward(Child<Module>("act").Forward(Child<Module>("pwconv1").Forward(Child<Module>("norm").Forward(y))));
        y = (y * Gamma).Permute(0, 3, 1, 2);
        if (SparseContext.Current is not null) y = SparseOps.ApplyMask(y);   // SPARK.md §4.2 step 9
        return x + Blocks.DropPath(this, y);
    }
}
