namespace Sparkle.Tensors.Backend;

/// <summary>
/// Hyper-parameters of a 2-D convolution, PyTorch semantics: output position (oh, ow) reads input row
/// oh·StrideH − PadH + kh·DilationH and column ow·StrideW − PadW + kw·DilationW (zero outside the input);
/// <see cref="Groups"/> splits the channels into that many independent convolutions.
/// </summary>
public readonly record struct Conv2dParams(int StrideH, int StrideW, int PadH, int PadW, int DilationH, int DilationW, int Groups)
{
    /// <summary>Stride 1, no padding, dilation 1, one group.</summary>
    public static Conv2dParams Default => new(1, 1, 0, 0, 1, 1, 1);

    /// <summary>Output extent of a convolution over <paramref name="input"/> positions (floor division, as in PyTorch);
    /// can be 0 or negative when the dilated kernel does not fit.</summary>
    public static int OutputSize(int input, int kernel, int stride, int pad, int dilation)
        => (input + 2 * pad - dilation * (kernel - 1) - 1) / stride + 1;

    public override string ToString()
        => $"stride=({StrideH}, {StrideW}) padding=({PadH}, {PadW}) dilation=({DilationH}, {DilationW}) groups={Groups}";
}
