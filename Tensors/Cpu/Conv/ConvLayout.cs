namespace Sparkle.Tensors.Cpu.Conv;

/// <summary>
/// The layouts the kernels accept, and the copies that bring any other view into one of them. An activation
/// is "channels-first" when W has unit stride (N, C, H strides free: sliced and padded views pass) and
/// "channels-last" when C has unit stride. Outputs the kernels store as a matrix must be dense: contiguous NCHW,
/// or NHWC strides without gaps (what torch calls channels_last).
/// </summary>
internal static class ConvLayout
{
    public static bool UnitW(Tensor t) => t.Size(3) <= 1 || t.Stride(3) == 1;
    public static bool UnitC(Tensor t) => t.Size(1) <= 1 || t.Stride(1) == 1;

    /// <summary>Dense NHWC strides (size-1 dims ignored), with more than one channel.</summary>
    public static bool IsDenseChannelsLast(Tensor t)
    {
        if (t.Rank != 4 || t.Size(1) <= 1) return false;
        int c = t.Size(1), h = t.Size(2), w = t.Size(3);
        return t.Stride(1) == 1 && (w <= 1 || t.Stride(3) == c) && (h <= 1 || t.Stride(2) == w * c)
            && (t.Size(0) <= 1 || t.Stride(0) == h * w * c);
    }

    /// <summary>A channels-last copy (same values, NHWC strides).</summary>
    public static Tensor ToChannelsLast(Tensor t) => t.Detach().Permute(0, 2, 3, 1).Contiguous().Permute(0, 3, 1, 2);

    /// <summary>A fresh, unzeroed tensor of <paramref name="shape"/> with t's dtype and device, in dense NHWC strides
    /// when <paramref name="channelsLast"/>.</summary>
    public static Tensor Empty(Tensor like, ReadOnlySpan<int> shape, bool channelsLast)
    {
        if (!channelsLast) return like.NewEmpty(shape, like.DType);
        return like.NewEmpty([shape[0], shape[2], shape[3], shape[1]], like.DType).Permute(0, 3, 1, 2);
    }
}
