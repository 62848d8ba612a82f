using System.Text.RegularExpressions;
using Sparkle.Gpu;
using Sparkle.Nn;
using Sparkle.Tensors;
using Sparkle.Tensors.Backend;
using Sparkle.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace Sparkle.Tests.Gpu;

/// <summary>The ILGPU backend's direct convolution kernels (Gpu/Kernels/ConvKernels.cs) against the CPU backend's own conv
/// kernels: Functional.Conv2d / ConvTranspose2d forward and autograd backward (input, weight and bias gradients) from the
/// same values on both devices, over the configurations SparK and its encoders use, float32 and float64, NCHW and
/// channels-last inputs, a strided output gradient; the split weight gradient; and one launch per pass.</summary>
[Collection(IlgpuCollection.Name)]
public class GpuConvTests(IlgpuFixture gpu, ITestOutputHelper output)
{
    public enum Kind { Conv, Transpose }

    public static IEnumerable<object[]> Cases()
    {
        // name, kind, n, c (input channels), hw, o (output channels), k, stride, pad, dilation, groups, bias, channels-last
        object[][] d =
        [
            ["3x3 p1 s1", Kind.Conv, 2, 4, 8, 6, 3, 1, 1, 1, 1, true, false],
            ["3x3 p1 s2", Kind.Conv, 2, 3, 9, 4, 3, 2, 1, 1, 1, false, false],
            ["1x1", Kind.Conv, 2, 8, 6, 5, 1, 1, 0, 1, 1, true, false],
            ["7x7 s2 p3", Kind.Conv, 1, 3, 12, 4, 7, 2, 3, 1, 1, false, false],
            ["transpose k4 s2 p1", Kind.Transpose, 2, 6, 5, 4, 4, 2, 1, 1, 1, true, false],
            ["3x3 dilation 2", Kind.Conv, 2, 4, 8, 4, 3, 1, 2, 2, 1, false, false],
            ["3x3 groups 2", Kind.Conv, 2, 4, 7, 6, 3, 1, 1, 1, 2, true, false],
            ["depthwise 7x7", Kind.Conv, 2, 8, 8, 8, 7, 1, 3, 1, 8, true, false],
            ["3x3 channels-last", Kind.Conv, 2, 4, 8, 6, 3, 1, 1, 1, 1, true, true],
            ["transpose k4 s2 p1 channels-last groups 2", Kind.Transpose, 2, 4, 4, 6, 4, 2, 1, 1, 2, false, true],
        ];
        return d;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Float64AgreesWithTheCpu(string name, Kind kind, int n, int c, int hw, int o, int k, int stride, int pad, int dilation, int groups, bool bias, bool cl)
        => Agree(name, DType.Float64, 1e-12, kind, n, c, hw, o, k, stride, pad, dilation, groups, bias, cl);

    [Theory]
    [MemberData(nameof(Cases))]
    public void Float32AgreesWithTheCpu(string name, Kind kind, int n, int c, int hw, int o, int k, int stride, int pad, int dilation, int groups, bool bias, bool cl)
        => Agree(name, DType.Float32, 1e-5, kind, n, c, hw, o, k, stride, pad, dilation, groups, bias, cl);

    /// <summary>The tiled implicit-GEMM forward (forced for every channel count; also ConvTranspose2d's input gradient),
    /// with a square and a non-square thread group.</summary>
    [Theory]
    [MemberData(nameof(Cases))]
    public void TiledForwardAgreesWithTheCpu(string name, Kind kind, int n, int c, int hw, int o, int k, int stride, int pad, int dilation, int groups, bool bias, bool cl)
    {
        var be = gpu.Backend;
        var (min, group) = (be.TiledConvMinOutChannels, be.MatMulGroup);
        be.TiledConvMinOutChannels = 1;
        try
        {
            Agree(name, DType.Float64, 1e-12, kind, n, c, hw, o, k, stride, pad, dilation, groups, bias, cl);
            be.MatMulGroup = (2, 4);
            Agree(name, DType.Float32, 1e-5, kind, n, c, hw, o, k, stride, pad, dilation, groups, bias, cl);
        }
        finally { (be.TiledConvMinOutChannels, be.MatMulGroup) = (min, group); }
    }

    private void Agree(string name, DType dtype, double tol, Kind kind, int n, int c, int hw, int o, int k, int stride, int pad, int dilation, int groups, bool bias, bool cl)
    {
        var rng = new Random(name.GetHashCode() & 0xFFFF);
        // Conv2d weight (O, C/groups, k, k); ConvTranspose2d weight (Cin, Cout/groups, k, k).
        int[] wShape = kind == Kind.Conv ? [o, c / groups, k, k] : [c, o / groups, k, k];
        var xBase = TensorGen.Random(rng, cl ? [n, hw, hw, c] : [n, c, hw, hw], dtype);
        var w = TensorGen.Random(rng, wShape, dtype);
        var b = bias ? TensorGen.Random(rng, [o], dtype) : null;
        Tensor AsInput(Tensor t) => cl ? t.Permute(0, 3, 1, 2) : t;          // channels-last: an NHWC buffer seen as NCHW

        Tensor Run(Tensor x, Tensor wt, Tensor? bt) => kind == Kind.Conv
            ? Functional.Conv2d(x, wt, bt, stride, pad, dilation, groups)
            : Functional.ConvTranspose2d(x, wt, bt, stride, pad, 0, groups, dilation);

        (Tensor Y, Tensor Gx, Tensor Gw, Tensor? Gb) Pass(Device device)
        {
            var x = AsInput(xBase.To(device)).Detach().RequireGrad();
            var wt = w.To(device).Detach().RequireGrad();
            var bt = b?.To(device).Detach().RequireGrad();
            var y = Run(x, wt, bt);
            // A strided output gradient (every other column of a wider tensor), the same values on both devices.
            var gyBase = TensorGen.Random(new Random(7), [y.Size(0), y.Size(1), y.Size(2), 2 * y.Size(3)], dtype).To(device);
            y.Backward(gyBase.Slice(3, 0, 2 * y.Size(3), 2));
            return (y.Detach(), x.Grad!, wt.Grad!, bt?.Grad);
        }

        var e = Pass(Device.Cpu);
        var a = Pass(gpu.Device);
        if (cl) Assert.Equal(1, a.Y.Stride(1));                              // channels-last in, channels-last out, as on the CPU
        Close(e.Y, a.Y, tol, $"{name} {dtype.Name()} output");
        Close(e.Gx, a.Gx, tol, $"{name} {dtype.Name()} input gradient");
        Close(e.Gw, a.Gw, tol, $"{name} {dtype.Name()} weight gradient");
        if (bias) Close(e.Gb!, a.Gb!, tol, $"{name} {dtype.Name()} bias gradient");
    }

    /// <summary>Relative to the largest |expected| (sums of signed terms cancel, so single elements can be near 0).</summary>
    private void Close(Tensor expected, Tensor actual, double tol, string what)
    {
        var ev = expected.ToDoubleArray();
        double scale = Math.Max(1, ev.Max(Math.Abs));
        Assert.Equal(gpu.Device, actual.Device);
        Check.Close(ev, actual.To(Device.Cpu), tol, tol * scale, what);
    }

    /// <summary>The weight gradient split into chunks of the N·OH·OW reduction (partials + a combining launch) equals
    /// the CPU, for chunks that do and do not divide the reduction, with a channels-last input and a strided gradient.</summary>
    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(25)]
    public void SplitWeightGradientAgreesWithTheCpu(int chunk)
    {
        var rng = new Random(chunk);
        var p = new Conv2dParams(2, 2, 1, 1, 1, 1, 2);
        var xBase = TensorGen.Random(rng, [2, 7, 7, 4], DType.Float64);
        var gyBase = TensorGen.Random(rng, [2, 6, 4, 8], DType.Float64);
        Tensor X(Tensor t) => t.Permute(0, 3, 1, 2);                                          // (2, 4, 7, 7) channels-last
        Tensor Gy(Tensor t) => t.Slice(3, 0, 8, 2);                                           // (2, 6, 4, 4) strided
        var expected = Tensor.Zeros([6, 2, 3, 3], DType.Float64);
        xBase.Backend.Conv2dBackwardWeight(Gy(gyBase), X(xBase), expected, p);
        var actual = Tensor.Zeros([6, 2, 3, 3], DType.Float64, gpu.Device);
        int before = gpu.Backend.ConvWeightGradChunk;
        gpu.Backend.ConvWeightGradChunk = chunk;
        try
        {
            gpu.Backend.Conv2dBackwardWeight(Gy(gyBase.To(gpu.Device)), X(xBase.To(gpu.Device)), actual, p);
        }
        finally { gpu.Backend.ConvWeightGradChunk = before; }
        Close(expected, actual, 1e-12, $"weight gradient in chunks of {chunk}");
    }

    /// <summary>One launch per pass (two for a split weight gradient); the seam composition's counts are printed beside
    /// them (the before/after of docs/gpu.md).</summary>
    [Fact]
    public void EachPassIsOneLaunch()
    {
        var rng = new Random(3);
        var dev = gpu.Device;
        var p = new Conv2dParams(1, 1, 1, 1, 1, 1, 1);
        var x = TensorGen.Random(rng, [2, 4, 8, 8], DType.Float32).To(dev);
        var w = TensorGen.Random(rng, [6, 4, 3, 3], DType.Float32).To(dev);
        var b = TensorGen.Random(rng, [6], DType.Float32).To(dev);
        var y = Tensor.Empty([2, 6, 8, 8], DType.Float32, dev);
        var gx = Tensor.Empty([2, 4, 8, 8], DType.Float32, dev);
        var gw = Tensor.Empty([6, 4, 3, 3], DType.Float32, dev);
        // ConvTranspose2d k4 s2 p1 (the SparK decoder's upsampling): 6 -> 4 channels, 4x4 -> 8x8.
        var pt = new Conv2dParams(2, 2, 1, 1, 1, 1, 1);
        var xt = TensorGen.Random(rng, [2, 6, 4, 4], DType.Float32).To(dev);
        var wt = TensorGen.Random(rng, [6, 4, 4, 4], DType.Float32).To(dev);
        var yt = Tensor.Empty([2, 4, 8, 8], DType.Float32, dev);
        var gxt = Tensor.Empty([2, 6, 4, 4], DType.Float32, dev);
        var gwt = Tensor.Empty([6, 4, 4, 4], DType.Float32, dev);
        var be = gpu.Backend;

        var passes = new (string Name, Action Kernel, Action Seam)[]
        {
            ("3x3 forward (bias)", () => be.Conv2dForward(x, w, b, y, p), () => SeamConv.Forward(x, w, b, y, p)),
            ("3x3 input gradient", () => be.Conv2dBackwardInput(y, w, gx, p), () => SeamConv.BackwardInput(y, w, gx, p)),
            ("3x3 weight gradient", () => be.Conv2dBackwardWeight(y, x, gw, p), () => SeamConv.BackwardWeight(y, x, gw, p)),
            ("transpose k4 s2 forward", () => be.Conv2dBackwardInput(xt, wt, yt, pt), () => SeamConv.BackwardInput(xt, wt, yt, pt)),
            ("transpose k4 s2 input gradient", () => be.Conv2dForward(yt, wt, null, gxt, pt), () => SeamConv.Forward(yt, wt, null, gxt, pt)),
            ("transpose k4 s2 weight gradient", () => be.Conv2dBackwardWeight(xt, yt, gwt, pt), () => SeamConv.BackwardWeight(xt, yt, gwt, pt)),
        };
        foreach (var (name, kernel, seam) in passes)
        {
            int now = Launches(kernel), before = Launches(seam);
            output.WriteLine($"{name}: {now} launch(es), seam composition {before}");
            Assert.True(now == 1, $"{name}: {now} launches, expected 1");
        }
        int minTiled = be.TiledConvMinOutChannels;
        be.TiledConvMinOutChannels = 1;
        try
        {
            int tiled = Launches(() => be.Conv2dForward(x, w, b, y, p));
            output.WriteLine($"3x3 forward (bias), tiled implicit GEMM: {tiled} launch(es)");
            Assert.Equal(1, tiled);
        }
        finally { be.TiledConvMinOutChannels = minTiled; }
        int chunk = be.ConvWeightGradChunk;
        be.ConvWeightGradChunk = 16;
        try
        {
            int split = Launches(() => be.Conv2dBackwardWeight(y, x, gw, p));
            output.WriteLine($"3x3 weight gradient split into chunks of 16: {split} launches");
            Assert.Equal(2, split);
        }
        finally { be.ConvWeightGradChunk = chunk; }
    }

    private int Launches(Action pass)
    {
        var profile = new KernelProfile();
        gpu.Backend.Profile = profile;
        try { pass(); }
        finally { gpu.Backend.Profile = null; }
        var m = Regex.Match(profile.ToString(), @" in (\d+) launches");
        Assert.True(m.Success, profile.ToString());
        return int.Parse(m.Groups[1].Value);
    }
}
