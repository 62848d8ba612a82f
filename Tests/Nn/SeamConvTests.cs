using FsCheck.Xunit;
using Sparkle.Tensors;
using Sparkle.Tensors.Backend;
using Sparkle.Tests.Support;

namespace Sparkle.Tests.Nn;

/// <summary>The seam-primitive convolution (the fallback of backends without conv kernels) equals the CPU conv kernels:
/// forward, input gradient and weight gradient over random strides, paddings, dilations and groups.</summary>
public class SeamConvTests
{
    [Property(MaxTest = 40)]
    public void SeamConvEqualsTheCpuKernels(long seed)
    {
        var rng = new SeededRandom(seed);
        int groups = rng.Next(1, 3), cg = rng.Next(1, 3), og = rng.Next(1, 3), kh = rng.Next(1, 4), kw = rng.Next(1, 4);
        var p = new Conv2dParams(rng.Next(1, 3), rng.Next(1, 3), rng.Next(0, 2), rng.Next(0, 2), rng.Next(1, 3), rng.Next(1, 3), groups);
        int h = rng.Next(1, 6) + (kh - 1) * p.DilationH, w = rng.Next(1, 6) + (kw - 1) * p.DilationW, n = rng.Next(1, 3);
        int oh = Conv2dParams.OutputSize(h, kh, p.StrideH, p.PadH, p.DilationH), ow = Conv2dParams.OutputSize(w, kw, p.StrideW, p.PadW, p.DilationW);
        var x = TensorGen.Random(rng, [n, cg * groups, h, w], DType.Float64);
        var wt = TensorGen.Random(rng, [og * groups, cg, kh, kw], DType.Float64);
        var b = TensorGen.Random(rng, [og * groups], DType.Float64);
        var g = TensorGen.Random(rng, [n, og * groups, oh, ow], DType.Float64);
        var cpu = x.Backend;

        var expected = Tensor.Zeros([n, og * groups, oh, ow], DType.Float64);
        cpu.Conv2dForward(x, wt, b, expected, p);
        var actual = Tensor.Zeros([n, og * groups, oh, ow], DType.Float64);
        SeamConv.Forward(x, wt, b, actual, p);
        Check.Close(expected.ToDoubleArray(), actual, 1e-12, 1e-12, $"forward {p}");

        var gi = Tensor.Zeros(x.ShapeArray(), DType.Float64);
        cpu.Conv2dBackwardInput(g, wt, gi, p);
        var gi2 = Tensor.Zeros(x.ShapeArray(), DType.Float64);
        SeamConv.BackwardInput(g, wt, gi2, p);
        Check.Close(gi.ToDoubleArray(), gi2, 1e-12, 1e-12, $"input gradient {p}");

        var gw = Tensor.Zeros(wt.ShapeArray(), DType.Float64);
        cpu.Conv2dBackwardWeight(g, x, gw, p);
        var gw2 = Tensor.Zeros(wt.ShapeArray(), DType.Float64);
        SeamConv.BackwardWeight(g, x, gw2, p);
        Check.Close(gw.ToDoubleArray(), gw2, 1e-12, 1e-12, $"weight gradient {p}");
    }
}
