using Sparkle.Tensors;

namespace Sparkle.Nn.Layers;

/// <summary>y = x Wᵀ + b with W of shape (out, in) (torch.nn.Linear); PyTorch's default init.</summary>
public sealed class Linear : Module
{
    public Linear(int inFeatures, int outFeatures, bool bias = true, DType dtype = DType.Float32, Generator? generator = null)
    {
        if (inFeatures <= 0 || outFeatures <= 0) throw new ArgumentException($"Linear: features must be positive, got in {inFeatures}, out {outFeatures}.");
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        Weight = RegisterParameter("weight", Tensor.Zeros([outFeatures, inFeatures], dtype));
        if (bias) Bias = RegisterParameter("bias", Tensor.Zeros([outFeatures], dtype));
        Init.DefaultLayerInit(Weight, Bias, generator);
    }

    public int InFeatures { get; }
    public int OutFeatures { get; }
    public Tensor Weight { get; }
    public Tensor? Bias { get; }

    public override Tensor Forward(Tensor input)
    {
        if (input.Size(-1) != InFeatures)
            throw new ArgumentException($"Linear({InFeatures}, {OutFeatures}): input's last dim must be {InFeatures}, got shape {ShapeUtil.Format(input.Shape)}.");
        var y = input.MatMul(Weight.T);
        return Bias is null ? y : y + Bias;
    }

    public override string ToString() => $"Linear(in_features={InFeatures}, out_features={OutFeatures}, bias={Bias is not null})";
}
