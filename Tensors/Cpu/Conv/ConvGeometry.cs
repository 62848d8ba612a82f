using Sparkle.Tensors.Backend;

namespace Sparkle.Tensors.Cpu.Conv;

/// <summary>
/// Sizes of one convolution: input (N, C, H, W), weight (O, Cg, KH, KW), output (N, O, OH, OW), with
/// Cg = C / G input and Og = O / G output channels per group. Output position (oh, ow) and tap (kh, kw)
/// read input (oh·SH − PH + kh·DH, ow·SW − PW + kw·DW). OH and OW are whatever the output tensor has,
/// so the same geometry serves the forward, both backward passes and ConvTranspose2d.
/// </summary>
internal readonly struct ConvGeometry
{
    public readonly int N, C, H, W, O, OH, OW, KH, KW, SH, SW, PH, PW, DH, DW, G, Cg, Og;

    public ConvGeometry(ReadOnlySpan<int> input, ReadOnlySpan<int> weight, ReadOnlySpan<int> output, in Conv2dParams p)
    {
        N = input[0]; C = input[1]; H = input[2]; W = input[3];
        O = weight[0]; KH = weight[2]; KW = weight[3];
        OH = output[2]; OW = output[3];
        SH = p.StrideH; SW = p.StrideW; PH = p.PadH; PW = p.PadW; DH = p.DilationH; DW = p.DilationW;
        G = p.Groups; Cg = C / G; Og = O / G;
    }

    public int Taps => KH * KW;
    /// <summary>Output pixels per image.</summary>
    public int P => OH * OW;
    /// <summary>Length of one output's dot product: Cg·KH·KW.</summary>
    public int K => Cg * KH * KW;
    public long ForwardMacs => (long)N * O * P * K;
    public bool IsDepthwise => G == C && G > 1 && Cg == 1;

    /// <summary>First and one-past-last output index o in [0, outSize) whose tap at offset
    /// (o·stride − pad + tapOffset) lands in [0, inSize).</summary>
    public static (int Lo, int Hi) ValidRange(int outSize, int inSize, int stride, int pad, int tapOffset)
    {
        // o*stride - pad + tap >= 0  <=>  o >= ceil((pad - tap) / stride)
        int lo = CeilDiv(pad - tapOffset, stride);
        // o*stride - pad + tap <= inSize - 1  <=>  o <= floor((inSize - 1 + pad - tap) / stride)
        int hi = FloorDiv(inSize - 1 + pad - tapOffset, stride) + 1;
        lo = Math.Clamp(lo, 0, outSize);
        hi = Math.Clamp(hi, lo, outSize);
        return (lo, hi);
    }

    public static int FloorDiv(int a, int b) => a >= 0 ? a / b : -((-a + b - 1) / b);
    public static int CeilDiv(int a, int b) => -FloorDiv(-a, b);
}

/// <summary>A strided 4-D activation (N, C, H, W) of a CPU tensor: element (n, c, h, w) is
/// Data[Offset + n·SN + c·SC + h·SH + w·SW].</summary>
internal readonly record struct Act<T>(T[] Data, int Offset, int SN, int SC, int SH, int SW) where T : unmanaged
{
    public static Act<T> Of(Tensor t) => new(CpuBackend.Data<T>(t), t.Offset, t.Stride(0), t.Stride(1), t.Stride(2), t.Stride(3));

    public int Index(int n, int c, int h, int w) => Offset + n * SN + c * SC + h * SH + w * SW;
}
