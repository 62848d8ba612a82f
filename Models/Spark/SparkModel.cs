using Sparkle.Autograd;
using Sparkle.Nn;
using Sparkle.Nn.Layers;
using Sparkle.Sparse;
using Sparkle.Tensors;

namespace Sparkle.Models.Spark;

/// <summary>Which norm densify uses per scale (SPARK.md §2.1): BN for ResNets, channels-first LN for ConvNeXts, none otherwise.</summary>
public enum DensifyNorm { None, BatchNorm, LayerNorm }

/// <summary>
/// SparK (SPARK.md §1-§3): a sparse hierarchical encoder (the dense backbone converted in place), densify (sparse norm,
/// per-scale mask token by select, projection), the LightDecoder and the loss on masked patches. State-dict keys follow
/// §5.7: sparse_encoder.sp_cnn.*, dense_decoder.*, densify_norms.*, densify_projs.*, mask_tokens.*, imn_m, imn_s, norm_black.
/// </summary>
public sealed class SparkModel : Module
{
    private readonly IHierarchicalEncoder _encoder;

    public SparkModel(IHierarchicalEncoder encoder, int inputSize, double maskRatio = 0.6, int decoderWidth = 768,
        DensifyNorm densifyNorm = DensifyNorm.BatchNorm, DType dtype = DType.Float32, Generator? generator = null, bool initialize = true)
    {
        if (encoder is not Module backbone) throw new ArgumentException("SparK needs an encoder that is a Module built from Nn layers.");
        int ratio = encoder.DownsampleRatio;
        if (inputSize % ratio != 0)
            throw new ArgumentException($"SparK: input size {inputSize} must be a multiple of the encoder's downsample ratio {ratio} (SPARK.md §8.7).");
        _encoder = encoder;
        InputSize = inputSize;
        Patch = ratio;
        Grid = inputSize / ratio;
        MaskRatio = maskRatio;
        DecoderWidth = decoderWidth;
        DensifyNorm = densifyNorm;
        var channels = encoder.FeatureMapChannels.ToArray();               // a copy (SPARK.md §8.12)

        RegisterModule("sparse_encoder", new EncoderHolder(SparseConversion.ToSparse(backbone)));
        var decoder = RegisterModule("dense_decoder", new LightDecoder(ratio, decoderWidth, dtype, generator, initialize));
        var norms = new ModuleList();
        var projs = new ModuleList();
        var tokens = RegisterModule("mask_tokens", new ParameterList());
        int width = decoderWidth;
        for (int i = 0; i < channels.Length; i++)
        {
            int e = channels[channels.Length - 1 - i];                       // deepest first
            norms.Add(densifyNorm switch
            {
                DensifyNorm.BatchNorm => new BatchNorm2d(e, dtype: dtype),
                DensifyNorm.LayerNorm => new LayerNorm2d(e, 1e-6, dtype),
                _ => new Identity(),
            });
            projs.Add(i == 0 && e == width ? new Identity()
                : new Conv2d(e, width, i == 0 ? 1 : 3, padding: i == 0 ? 0 : 1, dtype: dtype, generator: generator));
            var token = Tensor.Zeros([1, e, 1, 1], dtype);
            if (initialize) Init.TruncNormal_(token, std: 0.02, a: -0.02, b: 0.02, generator: generator);
            tokens.Add(token);
            width /= 2;
        }
        RegisterModule("densify_norms", SparseConversion.ToSparse(norms));
        RegisterModule("densify_projs", projs);
        // Deprecated buffers kept for key parity with the official checkpoints (SPARK.md §2.5).
        RegisterBuffer("imn_m", Tensor.Zeros([1, 3, 1, 1], dtype));
        RegisterBuffer("imn_s", Tensor.Zeros([1, 3, 1, 1], dtype));
        RegisterBuffer("norm_black", Tensor.Zeros([1, 3, inputSize, inputSize], dtype));
        if (decoder.Channels.Length < channels.Length)
            throw new ArgumentException($"SparK: the decoder has {decoder.Channels.Length - 1} blocks for {channels.Length} feature maps.");
    }

    public int InputSize { get; }
    /// <summary>Mask patch size = the encoder's downsample ratio.</summary>
    public int Patch { get; }
    /// <summary>f: the mask grid side (InputSize / Patch).</summary>
    public int Grid { get; }
    public double MaskRatio { get; }
    public int DecoderWidth { get; }
    public DensifyNorm DensifyNorm { get; }

    /// <summary>The backbone (converted to sparse layers); its state dict is the timm-style encoder checkpoint.</summary>
    public Module Encoder => Child<EncoderHolder>("sparse_encoder").Child0;

    /// <summary>A fresh mask for a batch: (B, 1, f, f) bool, true = visible.</summary>
    public Tensor SampleMask(int batch, Generator? generator = null, Device? device = null) => MaskSampler.Sample(batch, Grid, MaskRatio, generator, device);

    /// <summary>The pre-training loss for a batch of ImageNet-normalised images (B, 3, S, S) and its mask.</summary>
    public Tensor Loss(Tensor images, Tensor active) => SparkLoss.Loss(Reconstruct(images, active), images, active, Patch);

    /// <summary>The decoder's output (B, 3, S, S): normalised patches predicted for every position.</summary>
    public Tensor Reconstruct(Tensor images, Tensor active)
    {
        var toDecoder = Densify(images, active);
        return Child<LightDecoder>("dense_decoder").Forward(toDecoder);
    }

    /// <summary>
    /// The sparse encoder's maps densified for the decoder (SPARK.md §2.2), deepest first: each normalised, masked
    /// sites replaced by that scale's mask token, projected to the decoder's width at that scale
    /// (at 224 with width 768: 7²×768, 14²×384, 28²×192, 56²×96).
    /// </summary>
    public Tensor[] Densify(Tensor images, Tensor active)
    {
        if (images.Rank != 4 || images.Size(2) != InputSize || images.Size(3) != InputSize)
            throw new ArgumentException($"SparK was built for {InputSize}x{InputSize} inputs, got shape {ShapeUtil.Format(images.Shape)} (SPARK.md §8.7).");
        if (active.Rank != 4 || active.Size(2) != Grid || active.Size(3) != Grid || active.Size(0) != images.Size(0))
            throw new ArgumentException($"SparK: the mask must be ({images.Size(0)}, 1, {Grid}, {Grid}), got {ShapeUtil.Format(active.Shape)}.");
        using var context = SparseContext.Begin(active.To(Device.Cpu));
        var masked = images * context.DenseMask(InputSize, InputSize, images.DType, images.Device);
        var features = _encoder.ForwardFeatures(masked);
        var norms = Child<ModuleList>("densify_norms");
        var projs = Child<ModuleList>("densify_projs");
        var tokens = Child<ParameterList>("mask_tokens");
        var toDecoder = new Tensor[features.Length];
        for (int i = 0; i < features.Length; i++)
        {
            var x = features[features.Length - 1 - i];
            x = norms[i].Forward(x);
            var visible = context.DenseMask(x.Size(2), x.Size(3), x.DType, x.Device).Gt(0.5);
            x = Tensor.Where(visible, x, tokens[i]);                          // select, not add (SPARK.md §8.8)
            toDecoder[i] = projs[i].Forward(x);
            TensorMemory.SafePoint();                                        // see Sequential: reuse within the forward
        }
        return toDecoder;
    }

    /// <summary>
    /// For pictures (SPARK.md §3.6): the input, the masked input, and the reconstruction de-normalised with each patch's
    /// true mean and std with the visible patches pasted from the input. All in the input's (normalised) space.
    /// </summary>
    public (Tensor Input, Tensor Masked, Tensor Composite) Visualize(Tensor images, Tensor active)
    {
        using var _ = GradMode.NoGrad();
        var rec = Patches.Patchify(Reconstruct(images, active), Patch);
        var p = Patches.Patchify(images, Patch);
        var mean = p.Mean([-1], keepDim: true);
        var std = (p.Var([-1], correction: 1, keepDim: true) + 1e-6).Sqrt();
        var denorm = Patches.Unpatchify(rec * std + mean, Patch, images.Size(1), Grid, Grid);
        var m = active.To(images.DType).RepeatInterleave(Patch, 2).RepeatInterleave(Patch, 3).To(images.Device);
        return (images, images * m, images * m + denorm * (1.0 - m));
    }
}

/// <summary>"sparse_encoder" holds the backbone as "sp_cnn", as the official SparseEncoder does.</summary>
internal sealed class EncoderHolder : Module
{
    public EncoderHolder(Module backbone) => RegisterModule("sp_cnn", backbone);
    public Module Child0 => Child<Module>("sp_cnn");
}

/// <summary>torch.nn.ParameterList: parameters named "0", "1", ...</summary>
public sealed class ParameterList : Module
{
    private readonly List<Tensor> _items = [];

    public void Add(Tensor parameter) => _items.Add(RegisterParameter(_items.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), parameter));
    public Tensor this[int index] => _items[index];
    public int Count => _items.Count;
}
