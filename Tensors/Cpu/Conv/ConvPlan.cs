namespace Sparkle.Tensors.Cpu.Conv;

/// <summary>The convolution algorithms of the CPU backend (docs/conv.md).</summary>
internal enum ConvAlgorithm
{
    /// <summary>Implicit GEMM, channels-first: im2col micro-panels packed on the fly (any groups, stride, dilation).</summary>
    Im2ColNchw,
    /// <summary>Implicit GEMM, channels-last: im2col rows packed on the fly, the batch's pixels as one GEMM dimension.</summary>
    Im2ColNhwc,
}

/// <summary>What a pass will run: the algorithm, whether the activation it reads must first be copied into
/// that algorithm's layout, and whether that layout is channels-last.</summary>
internal readonly record struct ConvPlan(ConvAlgorithm Algorithm, bool ChannelsLast, bool CopyInput)
{
    /// <summary>The output decides: a dense channels-last y runs channels-last, a contiguous one channels-first.</summary>
    public static ConvPlan Forward(ConvGeometry g, Tensor x, Tensor y)
    {
        if (ConvLayout.IsDenseChannelsLast(y)) return new(ConvAlgorithm.Im2ColNhwc, true, !ConvLayout.UnitC(x));
        return new(ConvAlgorithm.Im2ColNchw, false, !ConvLayout.UnitW(x));
    }

    /// <summary>The input gradient's layout decides, as the output's does for the forward.</summary>
    public static ConvPlan BackwardInput(ConvGeometry g, Tensor dy, Tensor dx)
    {
        if (ConvLayout.IsDenseChannelsLast(dx)) return new(ConvAlgorithm.Im2ColNhwc, true, !ConvLayout.UnitC(dy));
        return new(ConvAlgorithm.Im2ColNchw, false, !ConvLayout.UnitW(dy));
    }

    /// <summary>The input's layout decides (dy is copied to match when it differs).</summary>
    public static ConvPlan BackwardWeight(ConvGeometry g, Tensor dy, Tensor x)
    {
        bool cl = g.C > 1 && ConvLayout.UnitC(x) && !(ConvLayout.UnitW(x) && ConvLayout.UnitW(dy) && !ConvLayout.UnitC(dy));
        return new(cl ? ConvAlgorithm.Im2ColNhwc : ConvAlgorithm.Im2ColNchw, cl, false);
    }
}
