using Sparkle.Tensors.Autograd;

namespace Sparkle.Tensors.Backend;

/// <summary>
/// Convolution written once in seam primitives (strided views, copies, adds, batched matmul): im2col by k·k strided copies
/// of the padded input, one GEMM per group, col2im by k·k strided adds. It runs on any backend, so a backend without conv
/// kernels of its own (the ILGPU backend today) still trains CNNs — slower, but with the same results. Backends with real
/// kernels (the CPU: Tensors/Cpu/Conv) never come here. Shapes as in <see cref="IBackend"/>'s Conv2d methods.
/// </summary>
public static class SeamConv
{
    public static void Forward(Tensor input, Tensor weight, Tensor? bias, Tensor dst, in Conv2dParams p)
    {
        using var _ = GradHook.Pause();
        var (n, kk, oh, ow) = (input.Size(0), weight.Size(2) * weight.Size(3), dst.Size(2), dst.Size(3));
        var cols = Columns(input, weight.Size(2), weight.Size(3), oh, ow, p);       // (N, C, KK, OH, OW)
        int groups = p.Groups, og = weight.Size(0) / groups, cg = weight.Size(1);
        for (int g = 0; g < groups; g++)
        {
            var colsG = cols.Narrow(1, g * cg, cg).Reshape(n, cg * kk, oh * ow);
            var wG = weight.Narrow(0, g * og, og).Reshape(og, cg * kk);
            var y = wG.MatMul(colsG);
            dst.Narrow(1, g * og, og).Copy_(y.View(n, og, oh, ow));
            Free(y);
        }
        Free(cols);
        if (bias is not null) dst.Add_(bias.Reshape(1, bias.Size(0), 1, 1));
    }

    public static void BackwardInput(Tensor gradOutput, Tensor weight, Tensor gradInput, in Conv2dParams p)
    {
        using var _ = GradHook.Pause();
        var (n, kh, kw, oh, ow) = (gradOutput.Size(0), weight.Size(2), weight.Size(3), gradOutput.Size(2), gradOutput.Size(3));
        int groups = p.Groups, og = weight.Size(0) / groups, cg = weight.Size(1), c = gradInput.Size(1);
        var gradCols = Tensor.Empty([n, c, kh * kw, oh, ow], gradOutput.DType, gradOutput.Backend);
        for (int g = 0; g < groups; g++)
        {
            var gG = gradOutput.Narrow(1, g * og, og).Reshape(n, og, oh * ow);
            var wG = weight.Narrow(0, g * og, og).Reshape(og, cg * kh * kw);
            var cg1 = wG.T.MatMul(gG);
            gradCols.Narrow(1, g * cg, cg).Copy_(cg1.View(n, cg, kh * kw, oh, ow));
            Free(cg1);
        }
        int h = gradInput.Size(2), w = gradInput.Size(3);
        var padded = Tensor.Empty([n, c, h + 2 * p.PadH, w + 2 * p.PadW], gradOutput.DType, gradOutput.Backend, zeroed: true);
        for (int i = 0; i < kh; i++)
            for (int j = 0; j < kw; j++)
                Window(padded, i, j, oh, ow, p).Add_(gradCols.Select(2, i * kw + j));   // overlapping windows accumulate
        Free(gradCols);
        gradInput.Copy_(padded.Narrow(2, p.PadH, h).Narrow(3, p.PadW, w));
        Free(padded);
    }

    public static void BackwardWeight(Tensor gradOutput, Tensor input, Tensor gradWeight, in Conv2dParams p)
    {
        using var _ = GradHook.Pause();
        var (n, kh, kw, oh, ow) = (gradOutput.Size(0), gradWeight.Size(2), gradWeight.Size(3), gradOutput.Size(2), gradOutput.Size(3));
        var cols = Columns(input, kh, kw, oh, ow, p);
        int groups = p.Groups, og = gradWeight.Size(0) / groups, cg = gradWeight.Size(1);
        for (int g = 0; g < groups; g++)
        {
            var gG = gradOutput.Narrow(1, g * og, og).Reshape(n, og, oh * ow);
            var colsG = cols.Narrow(1, g * cg, cg).Reshape(n, cg * kh * kw, oh * ow);
            var prod = gG.MatMul(colsG.Transpose(1, 2));
            var sum = prod.Sum([0]);
            Free(prod);
            gradWeight.Narrow(0, g * og, og).Copy_(sum.View(og, cg, kh, kw));
            Free(sum);
        }
        Free(cols);
    }

    /// <summary>(N, C, KH·KW, OH, OW): tap (i, j) of every output position, zero where it falls in the padding.</summary>
    private static Tensor Columns(Tensor input, int kh, int kw, int oh, int ow, in Conv2dParams p)
    {
        var padded = p.PadH > 0 || p.PadW > 0 ? input.Pad([p.PadW, p.PadW, p.PadH, p.PadH]) : input;
        var cols = Tensor.Empty([input.Size(0), input.Size(1), kh * kw, oh, ow], input.DType, input.Backend);
        for (int i = 0; i < kh; i++)
            for (int j = 0; j < kw; j++)
                cols.Select(2, i * kw + j).Copy_(Window(padded, i, j, oh, ow, p));
        if (!ReferenceEquals(padded, input)) Free(padded);
        return cols;
    }

    /// <summary>Gives a temporary made here back to its device's pool at once (device storages are IDisposable; CPU
    /// storages are not and are left to the GC). Only for tensors created in this class that nothing else references:
    /// the device runs launches in order, so the kernels already queued on the storage still read it first.</summary>
    private static void Free(Tensor t) => (t.Storage as IDisposable)?.Dispose();

    /// <summary>The strided view of a padded (N, C, H', W') tensor that tap (i, j) reads for every output position.</summary>
    private static Tensor Window(Tensor padded, int i, int j, int oh, int ow, in Conv2dParams p)
    {
        int r0 = i * p.DilationH, c0 = j * p.DilationW;
        return padded.Slice(2, r0, r0 + (oh - 1) * p.StrideH + 1, p.StrideH).Slice(3, c0, c0 + (ow - 1) * p.StrideW + 1, p.StrideW);
    }
}
