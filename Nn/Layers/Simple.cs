using Sparkle.Tensors;

namespace Sparkle.Nn.Layers;

// Parameter-free layers: activations, pooling, dropout, reshaping. Each is a thin module over a tensor op or
// a Functional entry, so a model's module tree (and its printed structure) matches PyTorch's.

public sealed class Identity : Module
{
    public override Tensor Forward(Tensor input) => input;
}

public sealed class ReLU : Module
{
    public override Tensor Forward(Tensor input) => input.Relu();
}

public sealed class ReLU6 : Module
{
    public override Tensor Forward(Tensor input) => input.Relu6();
}

/// <summary>Exact (erf) GELU, torch's default approximate="none".</summary>
public sealed class GELU : Module
{
    public override Tensor Forward(Tensor input) => input.Gelu();
}

public sealed class Sigmoid : Module
{
    public override Tensor Forward(Tensor input) => input.Sigmoid();
}

/// <summary>torch.nn.Flatten: flattens dims startDim..endDim (default 1..-1).</summary>
public sealed class Flatten(int startDim = 1, int endDim = -1) : Module
{
    public override Tensor Forward(Tensor input) => input.Flatten(startDim, endDim);
}

public sealed class MaxPool2d(int kernelSize, int stride = -1, int padding = 0) : Module
{
    public override Tensor Forward(Tensor input) => Functional.MaxPool2d(input, kernelSize, stride, padding);
    public override string ToString() => $"MaxPool2d(kernel_size={kernelSize}, stride={(stride < 0 ? kernelSize : stride)}, padding={padding})";
}

public sealed class AvgPool2d(int kernelSize, int stride = -1, int padding = 0, bool countIncludePad = true) : Module
{
    public override Tensor Forward(Tensor input) => Functional.AvgPool2d(input, kernelSize, stride, padding, countIncludePad);
}

public sealed class AdaptiveAvgPool2d(int outputHeight, int outputWidth) : Module
{
    public AdaptiveAvgPool2d(int outputSize) : this(outputSize, outputSize) { }
    public override Tensor Forward(Tensor input) => Functional.AdaptiveAvgPool2d(input, outputHeight, outputWidth);
}

/// <summary>Zeroes elements with probability p in training, scaling the rest by 1/(1-p).</summary>
public sealed class Dropout(double p = 0.5, Generator? generator = null) : Module
{
    public double P { get; } = p;
    /// <summary>The RNG of the masks (null: Generator.Default); trainers point it at their own RNG for exact resume.</summary>
    public Generator? Generator { get; set; } = generator;
    public override Tensor Forward(Tensor input) => Functional.Dropout(input, P, Training, Generator);
}

/// <summary>timm's DropPath (stochastic depth): drops whole samples of a residual branch in training.</summary>
public sealed class DropPath(double p = 0, Generator? generator = null) : Module
{
    public double P { get; } = p;
    /// <summary>The RNG of the per-sample masks (null: Generator.Default); trainers point it at their own RNG for exact resume.</summary>
    public Generator? Generator { get; set; } = generator;
    public override Tensor Forward(Tensor input) => Functional.DropPath(input, P, Training, Generator);
    public override string ToString() => $"DropPath(drop_prob={P})";
}

public sealed class MSELoss(Reduction reduction = Reduction.Mean) : Module
{
    public Tensor Forward(Tensor input, Tensor target) => Functional.MseLoss(input, target, reduction);
}

public sealed class CrossEntropyLoss(double labelSmoothing = 0, Reduction reduction = Reduction.Mean) : Module
{
    public Tensor Forward(Tensor logits, Tensor target) => Functional.CrossEntropy(logits, target, labelSmoothing, reduction);
}
