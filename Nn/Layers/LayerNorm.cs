using Sparkle.Tensors;

namespace Sparkle.Nn.Layers;

/// <summary>torch.nn.LayerNorm over the last dim (weight 1, bias 0, eps 1e-5 unless given; ConvNeXt uses 1e-6).</summary>
public sealed class LayerNorm : Module
{
    public LayerNorm(int normalizedShape, double eps = 1e-5, bool elementwiseAffine = true, DType dtype = DType.Float32)
    {
        NormalizedShape = normalizedShape;
        Eps = eps;
        if (elementwiseAffine)
        {
            Weight = RegisterParameter("weight", Tensor.Ones([normalizedShape], dtype));
            Bias = RegisterParameter("bias", Tensor.Zeros([normalizedShape], dtype));
        }
    }

    public int NormalizedShape { get; }
    public double Eps { get; }
    public Tensor? Weight { get; }
    public Tensor? Bias { get; }

    public override Tensor Forward(Tensor input)
    {
        if (input.Rank == 0 || input.Size(-1) != NormalizedShape)
            throw new ArgumentException($"LayerNorm({NormalizedShape}): the input's last dim must be {NormalizedShape}, got shape {ShapeUtil.Format(input.Shape)}.");
        return Functional.LayerNorm(input, 1, Weight, Bias, Eps);
    }
}

/// <summary>LayerNorm over the channels of NCHW input (ConvNeXt's LayerNorm with data_format="channels_first";
/// keys weight and bias of shape (C)). Default eps 1e-6 as in ConvNeXt.</summary>
public sealed class LayerNorm2d : Module
{
    public LayerNorm2d(int channels, double eps = 1e-6, DType dtype = DType.Float32)
    {
        Channels = channels;
        Eps = eps;
        Weight = RegisterParameter("weight", Tensor.Ones([channels], dtype));
        Bias = RegisterParameter("bias", Tensor.Zeros([channels], dtype));
    }

    public int Channels { get; }
    public double Eps { get; }
    public Tensor Weight { get; }
    public Tensor Bias { get; }

    public override Tensor Forward(Tensor input)
    {
        if (input.Rank != 4 || input.Size(1) != Channels)
            throw new ArgumentException($"LayerNorm2d({Channels}): expected (N, {Channels}, H, W) input, got shape {ShapeUtil.Format(input.Shape)}.");
        return Functional.LayerNorm2d(input, Weight, Bias, Eps);
    }
}
