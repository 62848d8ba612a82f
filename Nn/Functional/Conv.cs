using Sparkle.Autograd;
using Sparkle.Tensors;
using Sparkle.Tensors.Backend;

namespace Sparkle.Nn;

/// <summary>
/// Stateless layer functions (torch.nn.functional). Each defines its forward and backward together with
/// <see cref="Differentiable.Record"/>; the arithmetic is a backend primitive (IBackend.Conv2d*), so the
/// same function runs on every device that implements it.
/// </summary>
public static partial class Functional
{
    /// <summary>torch.nn.functional.conv2d with the same stride, padding and dilation along H and W.</summary>
    public static Tensor Conv2d(Tensor input, Tensor weight, Tensor? bias = null, int stride = 1, int padding = 0, int dilation = 1, int groups = 1)
        => Conv2d(input, weight, bias, [stride, stride], [padding, padding], [dilation, dilation], groups);

    /// <summary>
    /// torch.nn.functional.conv2d: input (N, C, H, W) or unbatched (C, H, W), weight (O, C/groups, KH, KW), bias (O) or
    /// null; zero padding. Output (N, O, OH, OW) with OH = (H + 2·padding − dilation·(KH − 1) − 1) / stride + 1.
    /// A channels-last input (NHWC strides) gives a channels-last output, as in PyTorch. Gradients flow to each of
    /// input, weight and bias that requires grad, and only those are computed.
    /// </summary>
    public static Tensor Conv2d(Tensor input, Tensor weight, Tensor? bias, int[] stride, int[] padding, int[] dilation, int groups)
    {
        const string op = "Conv2d";
        if (input.Rank == 3) return Conv2d(input.Unsqueeze(0), weight, bias, stride, padding, dilation, groups).Squeeze(0);
        var p = ConvArgs.Params(op, stride, padding, dilation, groups);
        ConvArgs.CheckOperands(op, input, weight, bias);
        int n = input.Size(0), c = input.Size(1), h = input.Size(2), w = input.Size(3);
        int o = weight.Size(0), kh = weight.Size(2), kw = weight.Size(3);
        if (c % groups != 0 || o % groups != 0)
            throw new ArgumentException($"{op}: groups={groups} must divide both the input's {c} channels and the weight's {o} output channels; input {Fmt(input)}, weight {Fmt(weight)}.");
        if (weight.Size(1) != c / groups)
            throw new ArgumentException($"{op}: input {Fmt(input)} has {c} channels, so with groups={groups} the weight needs {c / groups} input channels per group (dim 1); weight is {Fmt(weight)}.");
        ConvArgs.CheckBias(op, bias, o, weight);
        int oh = Conv2dParams.OutputSize(h, kh, p.StrideH, p.PadH, p.DilationH);
        int ow = Conv2dParams.OutputSize(w, kw, p.StrideW, p.PadW, p.DilationW);
        if (oh <= 0 || ow <= 0)
            throw new ArgumentException($"{op}: the kernel {kh}x{kw} (dilation {p.DilationH}x{p.DilationW}) does not fit the padded input: input {Fmt(input)}, weight {Fmt(weight)}, padding {p.PadH}x{p.PadW} give an output of {oh}x{ow}.");

        bool cl = ConvArgs.IsChannelsLast(input);
        var y = ConvArgs.Empty([n, o, oh, ow], input, cl);
        input.Backend.Conv2dForward(input, weight, bias, y, p);
        if (!Differentiable.NeedsGrad(input, weight, bias)) return y;
        return RecordConv2d(y, input, weight, bias, p);
    }

    private static Tensor RecordConv2d(Tensor y, Tensor input, Tensor weight, Tensor? bias, Conv2dParams p)
    {
        bool gx = input.RequiresGrad, gw = weight.RequiresGrad, gb = bias?.RequiresGrad == true;
        // Keep only what the requested gradients read: dx needs the weight, dw the input.
        Tensor? savedX = gw ? input.Detach() : null, savedW = gx ? weight.Detach() : null;
        int[] inShape = input.ShapeArray(), wShape = weight.ShapeArray();
        bool cl = ConvArgs.IsChannelsLast(input);
        Tensor[] saved = [.. new[] { gw ? input : null, gx ? weight : null }.OfType<Tensor>()];
        var backend = input.Backend; // the backward runs where the forward ran (with its kernel options)
        return Differentiable.Record("Conv2d", y, [input, weight, bias], g =>
        {
            Tensor? dx = null, dw = null, db = null;
            if (gx)
            {
                dx = ConvArgs.Empty(inShape, g, cl);
                backend.Conv2dBackwardInput(g, savedW!, dx, p);
            }
            if (gw)
            {
                dw = Tensor.Empty(wShape, g.DType, g.Device);
                backend.Conv2dBackwardWeight(g, savedX!, dw, p);
            }
            if (gb) db = g.Sum(0, 2, 3);
            return [dx, dw, db];
        }, saved);
    }

    /// <summary>torch.nn.functional.conv_transpose2d with the same stride, padding, output padding and dilation along H and W.</summary>
    public static Tensor ConvTranspose2d(Tensor input, Tensor weight, Tensor? bias = null, int stride = 1, int padding = 0, int outputPadding = 0, int groups = 1, int dilation = 1)
        => ConvTranspose2d(input, weight, bias, [stride, stride], [padding, padding], [outputPadding, outputPadding], groups, [dilation, dilation]);

    /// <summary>
    /// torch.nn.functional.conv_transpose2d: input (N, Cin, H, W) or unbatched, weight (Cin, Cout/groups, KH, KW), bias
    /// (Cout) or null. Output (N, Cout, HO, WO) with HO = (H − 1)·stride − 2·padding + dilation·(KH − 1) + outputPadding + 1;
    /// outputPadding must be smaller than stride or dilation. It is the gradient of Conv2d with respect to its input,
    /// and is computed by that kernel.
    /// </summary>
    public static Tensor ConvTranspose2d(Tensor input, Tensor weight, Tensor? bias, int[] stride, int[] padding, int[] outputPadding, int groups, int[] dilation)
    {
        const string op = "ConvTranspose2d";
        if (input.Rank == 3) return ConvTranspose2d(input.Unsqueeze(0), weight, bias, stride, padding, outputPadding, groups, dilation).Squeeze(0);
        var p = ConvArgs.Params(op, stride, padding, dilation, groups);
        var op2 = ConvArgs.Pair(op, "outputPadding", outputPadding, 0);
        ConvArgs.CheckOperands(op, input, weight, bias);
        int n = input.Size(0), cin = input.Size(1), h = input.Size(2), w = input.Size(3);
        int kh = weight.Size(2), kw = weight.Size(3);
        if (weight.Size(0) != cin)
            throw new ArgumentException($"{op}: input {Fmt(input)} has {cin} channels but the weight {Fmt(weight)} (in, out/groups, kh, kw) expects {weight.Size(0)}.");
        if (cin % groups != 0)
            throw new ArgumentException($"{op}: groups={groups} must divide the input's {cin} channels; input {Fmt(input)}, weight {Fmt(weight)}.");
        int cout = weight.Size(1) * groups;
        ConvArgs.CheckBias(op, bias, cout, weight);
        if ((op2.H >= p.StrideH && op2.H >= p.DilationH) || (op2.W >= p.StrideW && op2.W >= p.DilationW))
            throw new ArgumentException($"{op}: outputPadding ({op2.H}, {op2.W}) must be smaller than either stride ({p.StrideH}, {p.StrideW}) or dilation ({p.DilationH}, {p.DilationW}).");
        int ho = (h - 1) * p.StrideH - 2 * p.PadH + p.DilationH * (kh - 1) + op2.H + 1;
        int wo = (w - 1) * p.StrideW - 2 * p.PadW + p.DilationW * (kw - 1) + op2.W + 1;
        if (ho <= 0 || wo <= 0)
            throw new ArgumentException($"{op}: input {Fmt(input)} with weight {Fmt(weight)}, stride ({p.StrideH}, {p.StrideW}) and padding ({p.PadH}, {p.PadW}) gives an empty output {ho}x{wo}.");

        bool cl = ConvArgs.IsChannelsLast(input);
        var y = ConvArgs.Empty([n, cout, ho, wo], input, cl);
        // The transposed convolution of x is conv2d's input gradient with x as the output gradient.
        input.Backend.Conv2dBackwardInput(input, weight, y, p);
        if (bias is not null)
            using (GradMode.NoGrad()) y.Add_(bias.Detach().Reshape(1, cout, 1, 1));
        if (!Differentiable.NeedsGrad(input, weight, bias)) return y;
        return RecordConvTranspose2d(y, input, weight, bias, p);
    }

    private static Tensor RecordConvTranspose2d(Tensor y, Tensor input, Tensor weight, Tensor? bias, Conv2dParams p)
    {
        bool gx = input.RequiresGrad, gw = weight.RequiresGrad, gb = bias?.RequiresGrad == true;
        Tensor? savedX = gw ? input.Detach() : null, savedW = gx ? weight.Detach() : null;
        int[] inShape = input.ShapeArray(), wShape = weight.ShapeArray();
        bool cl = ConvArgs.IsChannelsLast(input);
        Tensor[] saved = [.. new[] { gw ? input : null, gx ? weight : null }.OfType<Tensor>()];
        var backend = input.Backend; // the backward runs where the forward ran (with its kernel options)
        return Differentiable.Record("ConvTranspose2d", y, [input, weight, bias], g =>
        {
            Tensor? dx = null, dw = null, db = null;
            if (gx)
            {
                // d/dx of conv2d's input gradient is conv2d itself.
                dx = ConvArgs.Empty(inShape, g, cl);
                backend.Conv2dForward(g, savedW!, null, dx, p);
            }
            if (gw)
            {
                // The weight gradient of conv2d with x in the role of the output gradient and g in the role of the input.
                dw = Tensor.Empty(wShape, g.DType, g.Device);
                backend.Conv2dBackwardWeight(savedX!, g, dw, p);
            }
            if (gb) db = g.Sum(0, 2, 3);
            return [dx, dw, db];
        }, saved);
    }

    private static string Fmt(Tensor t) => ShapeUtil.Format(t.Shape);
}
