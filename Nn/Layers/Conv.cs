using Sparkle.Tensors;

namespace Sparkle.Nn.Layers;

/// <summary>torch.nn.Conv2d: weight (out, in/groups, kh, kw), optional bias (out); zero padding; PyTorch's
/// default init. Square or rectangular kernel/stride/padding/dilation.</summary>
public sealed class Conv2d : Module
{
    public Conv2d(int inChannels, int outChannels, int kernelSize, int stride = 1, int padding = 0, int dilation = 1, int groups = 1,
        bool bias = true, DType dtype = DType.Float32, Generator? generator = null)
        : this(inChannels, outChannels, [kernelSize, kernelSize], [stride, stride], [padding, padding], [dilation, dilation], groups, bias, dtype, generator) { }

    public Conv2d(int inChannels, int outChannels, int[] kernelSize, int[] stride, int[] padding, int[] dilation, int groups = 1,
        bool bias = true, DType dtype = DType.Float32, Generator? generator = null)
    {
        if (inChannels <= 0 || outChannels <= 0 || groups <= 0 || inChannels % groups != 0 || outChannels % groups != 0)
            throw new ArgumentException($"Conv2d: in {inChannels} and out {outChannels} channels must be positive multiples of groups {groups}.");
        InChannels = inChannels;
        OutChannels = outChannels;
        KernelSize = Pair(kernelSize);
        Stride = Pair(stride);
        Padding = Pair(padding);
        Dilation = Pair(dilation);
        Groups = groups;
        Weight = RegisterParameter("weight", Tensor.Zeros([outChannels, inChannels / groups, KernelSize[0], KernelSize[1]], dtype));
        if (bias) Bias = RegisterParameter("bias", Tensor.Zeros([outChannels], dtype));
        Init.DefaultLayerInit(Weight, Bias, generator);
    }

    public int InChannels { get; }
    public int OutChannels { get; }
    public int[] KernelSize { get; }
    public int[] Stride { get; }
    public int[] Padding { get; }
    public int[] Dilation { get; }
    public int Groups { get; }
    public Tensor Weight { get; }
    public Tensor? Bias { get; }

    public override Tensor Forward(Tensor input) => Functional.Conv2d(input, Weight, Bias, Stride, Padding, Dilation, Groups);

    public override string ToString() =>
        $"Conv2d({InChannels}, {OutChannels}, kernel_size=({KernelSize[0]}, {KernelSize[1]}), stride=({Stride[0]}, {Stride[1]}), padding=({Padding[0]}, {Padding[1]}){(Groups != 1 ? $", groups={Groups}" : "")}{(Bias is null ? ", bias=False" : "")})";

    internal static int[] Pair(int[] v) => v.Length switch
    {
        1 => [v[0], v[0]],
        2 => [v[0], v[1]],
        _ => throw new ArgumentException($"Expected 1 or 2 values, got {v.Length}."),
    };
}

/// <summary>torch.nn.ConvTranspose2d: weight (in, out/groups, kh, kw), optional bias (out); PyTorch's default init
/// (whose fan_in is computed from dim 1, i.e. out/groups * kh * kw, exactly as torch does).</summary>
public sealed class ConvTranspose2d : Module
{
    public ConvTranspose2d(int inChannels, int outChannels, int kernelSize, int stride = 1, int padding = 0, int outputPadding = 0,
        int groups = 1, bool bias = true, int dilation = 1, DType dtype = DType.Float32, Generator? generator = null)
    {
        if (inChannels <= 0 || outChannels <= 0 || groups <= 0 || inChannels % groups != 0 || outChannels % groups != 0)
            throw new ArgumentException($"ConvTranspose2d: in {inChannels} and out {outChannels} channels must be positive multiples of groups {groups}.");
        InChannels = inChannels;
        OutChannels = outChannels;
        KernelSize = kernelSize;
        Stride = stride;
        Padding = padding;
        OutputPadding = outputPadding;
        Groups = groups;
        Dilation = dilation;
        Weight = RegisterParameter("weight", Tensor.Zeros([inChannels, outChannels / groups, kernelSize, kernelSize], dtype));
        if (bias) Bias = RegisterParameter("bias", Tensor.Zeros([outChannels], dtype));
        Init.DefaultLayerInit(Weight, Bias, generator);
    }

    public int InChannels { get; }
    public int OutChannels { get; }
    public int KernelSize { get; }
    public int Stride { get; }
    public int Padding { get; }
    public int OutputPadding { get; }
    public int Groups { get; }
    public int Dilation { get; }
    public Tensor Weight { get; }
    public Tensor? Bias { get; }

    public override Tensor Forward(Tensor input) =>
        Functional.ConvTranspose2d(input, Weight, Bias, Stride, Padding, OutputPadding, Groups, Dilation);
}
