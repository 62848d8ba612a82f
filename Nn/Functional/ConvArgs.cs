using Sparkle.Tensors;
using Sparkle.Tensors.Backend;

namespace Sparkle.Nn;

/// <summary>Argument checks and output allocation shared by the convolution functions.</summary>
internal static class ConvArgs
{
    public static (int H, int W) Pair(string op, string name, int[] values, int min)
    {
        ArgumentNullException.ThrowIfNull(values, name);
        if (values.Length is not (1 or 2))
            throw new ArgumentException($"{op}: {name} needs one value or two (H, W), got {values.Length}.");
        int h = values[0], w = values[^1];
        if (h < min || w < min)
            throw new ArgumentException($"{op}: {name} must be at least {min}, got ({h}, {w}).");
        return (h, w);
    }

    public static Conv2dParams Params(string op, int[] stride, int[] padding, int[] dilation, int groups)
    {
        var s = Pair(op, "stride", stride, 1);
        var p = Pair(op, "padding", padding, 0);
        var d = Pair(op, "dilation", dilation, 1);
        if (groups < 1) throw new ArgumentException($"{op}: groups must be at least 1, got {groups}.");
        return new Conv2dParams(s.H, s.W, p.H, p.W, d.H, d.W, groups);
    }

    public static void CheckOperands(string op, Tensor input, Tensor weight, Tensor? bias)
    {
        if (input.Rank != 4)
            throw new ArgumentException($"{op}: input must be 4-D (N, C, H, W) or 3-D (C, H, W), got {ShapeUtil.Format(input.Shape)} (weight {ShapeUtil.Format(weight.Shape)}).");
        if (weight.Rank != 4)
            throw new ArgumentException($"{op}: weight must be 4-D, got {ShapeUtil.Format(weight.Shape)} (input {ShapeUtil.Format(input.Shape)}).");
        CheckPair(op, input, weight);
        if (bias is not null) CheckPair(op, input, bias);
    }

    private static void CheckPair(string op, Tensor a, Tensor b)
    {
        if (a.Device != b.Device)
            throw new InvalidOperationException($"{op}: tensors are on different devices: {a.Device} {ShapeUtil.Format(a.Shape)} and {b.Device} {ShapeUtil.Format(b.Shape)}. Move one with To(device).");
        if (a.DType != b.DType)
            throw new InvalidOperationException($"{op}: dtypes differ: {a.DType.Name()} {ShapeUtil.Format(a.Shape)} and {b.DType.Name()} {ShapeUtil.Format(b.Shape)}.");
        if (!a.DType.IsFloating())
            throw new InvalidOperationException($"{op} needs float32 or float64 tensors, got {a.DType.Name()} {ShapeUtil.Format(a.Shape)}.");
    }

    public static void CheckBias(string op, Tensor? bias, int channels, Tensor weight)
    {
        if (bias is not null && (bias.Rank != 1 || bias.Size(0) != channels))
            throw new ArgumentException($"{op}: bias must have shape ({channels}) for weight {ShapeUtil.Format(weight.Shape)}, got {ShapeUtil.Format(bias.Shape)}.");
    }

    /// <summary>Channels-last in PyTorch's sense: C has unit stride and W does not (a view with NHWC strides).</summary>
    public static bool IsChannelsLast(Tensor t) => t.IsChannelsLast;

    /// <summary>An unzeroed output on t's device: contiguous, or dense NHWC strides when channelsLast.</summary>
    public static Tensor Empty(int[] shape, Tensor like, bool channelsLast)
    {
        if (!channelsLast) return Tensor.Empty(shape, like.DType, like.Device);
        return Tensor.Empty([shape[0], shape[2], shape[3], shape[1]], like.DType, like.Device).Permute(0, 3, 1, 2);
    }
}
