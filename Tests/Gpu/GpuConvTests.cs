using System.Text.RegularExpressions;
using ILGPU;
using Sparkle.Gpu;
using Sparkle.Nn;
using Sparkle.Tensors;
using Sparkle.Tensors.Backend;
using Sparkle.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace Sparkle.Tests.Gpu;

/// <summary>The ILGPU backend's convolution kernels (tiled implicit GEMMs on Gpu/Kernels/TiledGemm.cs, the direct and
/// depthwise per-element kernels of Gpu/Kernels/ConvKernels.cs) against the CPU backend's own conv kernels:
/// Functional.Conv2d / ConvTranspose2d forward and autograd backward (input, weight and bias gradients) from the same
/// values on both devices, over every convolution SparK and its encoders use (small channel counts and maps, batch 2,
/// sizes that are not multiples of the tiles), float32 and float64, NCHW and channels-last inputs, a strided output
/// gradient; each as planned by default, all tiled with split-K forced, and all direct with split forced. Every run
/// checks that the launches the profile saw are the ones <see cref="IlgpuBackend.PlanConv"/> names.</summary>
[Collection(IlgpuCollection.Name)]
public class GpuConvTests(IlgpuFixture gpu, ITestOutputHelper output)
{
    public enum Kind { Conv, Transpose }

    /// <summary>Default: the plan as the backend's settings give it; Tiled: every pass tiled (TiledConvMinOutChannels 1,
    /// a non-square 2x4 thread group for float32) and the weight gradient split in chunks of 7; Direct: tiling off (the
    /// GEMM tiles and the depthwise tiles: the per-element kernels), chunks of 5.</summary>
    public enum Mode { Default, Tiled, Direct }

    public sealed record Case(string Name, Kind Kind, int C, int Hw, int O, int K, int Stride, int Pad, int Dilation, int Groups, bool Bias)
    {
        public override string ToString() => Name;
    }

    /// <summary>c: input channels, o: output channels (of the module: ConvTranspose2d maps c to o). Channel counts of 16+
    /// per group run tiled by default (TiledConvMinOutChannels), fewer run direct.</summary>
    private static readonly Case[] Table =
    [
        new("ResNet stem 7x7 s2 p3", Kind.Conv, 3, 13, 16, 7, 2, 3, 1, 1, false),
        new("3x3 s1 p1", Kind.Conv, 16, 7, 16, 3, 1, 1, 1, 1, false),
        new("3x3 s2 p1", Kind.Conv, 8, 9, 16, 3, 2, 1, 1, 1, false),
        new("1x1 s1", Kind.Conv, 16, 6, 20, 1, 1, 0, 1, 1, false),
        new("1x1 s2 downsample", Kind.Conv, 8, 9, 16, 1, 2, 0, 1, 1, false),
        new("ConvNeXt stem 4x4 s4", Kind.Conv, 3, 17, 16, 4, 4, 0, 1, 1, true),
        new("ConvNeXt downsample 2x2 s2", Kind.Conv, 16, 7, 16, 2, 2, 0, 1, 1, true),
        new("depthwise 7x7 p3", Kind.Conv, 8, 9, 8, 7, 1, 3, 1, 8, true),
        new("grouped 3x3 groups 2", Kind.Conv, 8, 7, 12, 3, 1, 1, 1, 2, false),
        new("3x3 dilation 2", Kind.Conv, 4, 8, 6, 3, 1, 2, 2, 1, false),
        new("SparK decoder transpose k4 s2 p1", Kind.Transpose, 24, 5, 16, 4, 2, 1, 1, 1, true),
        new("SparK decoder 3x3", Kind.Conv, 16, 10, 16, 3, 1, 1, 1, 1, true),
    ];

    public static IEnumerable<object[]> Runs()
    {
        foreach (var c in Table)
        {
            // Default: both dtypes and layouts; forced modes: one dtype per layout (keeps the simulator time down).
            foreach (var dt in new[] { "f64", "f32" })
                foreach (var cl in new[] { false, true })
                    yield return [c.Name, Mode.Default, dt, cl];
            yield return [c.Name, Mode.Tiled, "f64", false];
            yield return [c.Name, Mode.Tiled, "f32", true];
            yield return [c.Name, Mode.Direct, "f64", true];
            yield return [c.Name, Mode.Direct, "f32", false];
        }
    }

    [Theory]
    [MemberData(nameof(Runs))]
    public void AgreesWithTheCpu(string name, Mode mode, string dtype, bool channelsLast)
    {
        var c = Table.Single(t => t.Name == name);
        var dt = dtype == "f64" ? DType.Float64 : DType.Float32;
        var be = gpu.Backend;
        var saved = (be.TiledConv, be.TiledConvMinOutChannels, be.ConvWeightGradChunk, be.MatMulGroup, be.TiledDepthwise);
        try
        {
            if (mode == Mode.Tiled) (be.TiledConvMinOutChannels, be.ConvWeightGradChunk, be.MatMulGroup) = (1, 7, dt == DType.Float32 ? (2, 4) : null);
            if (mode == Mode.Direct) (be.TiledConv, be.ConvWeightGradChunk, be.TiledDepthwise) = (false, 5, false);
            var plans = Agree(c, dt, dt == DType.Float64 ? 1e-12 : 2e-5, channelsLast);
            if (mode == Mode.Tiled) Assert.All(plans, p => Assert.Equal(GpuConvKernel.TiledGemm, p.Kernel));
            if (mode == Mode.Direct) Assert.All(plans, p => Assert.True(p.Kernel is GpuConvKernel.Direct or GpuConvKernel.Depthwise, p.ToString()));
            if (mode != Mode.Default) Assert.True(plans[2].Parts > 1, $"split-K not forced: {plans[2]}");
            if (mode == Mode.Default)
            {
                // The rule: tiled where the pass's GEMM has >= 16 rows per group (O/groups, or C/groups for dx).
                var (og, cg) = c.Kind == Kind.Conv ? (c.O / c.Groups, c.C / c.Groups) : (c.C / c.Groups, c.O / c.Groups);
                Assert.Equal(og >= 16, plans[0].Kernel == GpuConvKernel.TiledGemm);
                Assert.Equal(cg >= 16, plans[1].Kernel == GpuConvKernel.TiledGemm);
                Assert.Equal(og >= 16, plans[2].Kernel == GpuConvKernel.TiledGemm);
                // Depthwise at stride 1: the shared-memory depthwise kernels (GpuDepthwiseTests covers them in depth).
                if (c.Groups == c.C && c.Groups == c.O) Assert.All(plans, p => Assert.Equal(GpuConvKernel.DepthwiseTiled, p.Kernel));
            }
        }
        finally { (be.TiledConv, be.TiledConvMinOutChannels, be.ConvWeightGradChunk, be.MatMulGroup, be.TiledDepthwise) = saved; }
    }

    /// <summary>Runs the case on both devices and compares; returns the conv's three plans (forward, input gradient,
    /// weight gradient, in the conv's terms) after checking that the profile saw exactly their launches.</summary>
    private GpuConvPlan[] Agree(Case c, DType dtype, double tol, bool cl)
    {
        var rng = new Random(c.Name.GetHashCode() & 0xFFFF);
        const int n = 2;
        // Conv2d weight (O, C/groups, k, k); ConvTranspose2d weight (Cin, Cout/groups, k, k).
        int[] wShape = c.Kind == Kind.Conv ? [c.O, c.C / c.Groups, c.K, c.K] : [c.C, c.O / c.Groups, c.K, c.K];
        var xBase = TensorGen.Random(rng, cl ? [n, c.Hw, c.Hw, c.C] : [n, c.C, c.Hw, c.Hw], dtype);
        var w = TensorGen.Random(rng, wShape, dtype);
        var b = c.Bias ? TensorGen.Random(rng, [c.O], dtype) : null;
        Tensor AsInput(Tensor t) => cl ? t.Permute(0, 3, 1, 2) : t;          // channels-last: an NHWC buffer seen as NCHW

        Tensor Run(Tensor x, Tensor wt, Tensor? bt) => c.Kind == Kind.Conv
            ? Functional.Conv2d(x, wt, bt, c.Stride, c.Pad, c.Dilation, c.Groups)
            : Functional.ConvTranspose2d(x, wt, bt, c.Stride, c.Pad, 0, c.Groups, c.Dilation);

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
        var profile = new KernelProfile();
        gpu.Backend.Profile = profile;
        (Tensor Y, Tensor Gx, Tensor Gw, Tensor? Gb) a;
        try { a = Pass(gpu.Device); }
        finally { gpu.Backend.Profile = null; }
        string what = $"{c.Name} {dtype.Name()}{(cl ? " channels-last" : "")}";
        if (cl) Assert.Equal(1, a.Y.Stride(1));                              // channels-last in, channels-last out, as on the CPU
        Close(e.Y, a.Y, tol, $"{what} output");
        Close(e.Gx, a.Gx, tol, $"{what} input gradient");
        Close(e.Gw, a.Gw, tol, $"{what} weight gradient");
        if (c.Bias) Close(e.Gb!, a.Gb!, tol, $"{what} bias gradient");

        // The conv's view: ConvTranspose2d's output is the conv's input and its input the conv's output.
        var (cx, cy) = c.Kind == Kind.Conv ? (e.Gx.ShapeArray(), e.Y.ShapeArray()) : (e.Y.ShapeArray(), e.Gx.ShapeArray());
        var p = new Conv2dParams(c.Stride, c.Stride, c.Pad, c.Pad, c.Dilation, c.Dilation, c.Groups);
        var plans = new[] { GpuConvPass.Forward, GpuConvPass.BackwardInput, GpuConvPass.BackwardWeight }
            .Select(pass => gpu.Backend.PlanConv(pass, dtype, cx, wShape, cy, p, cl)).ToArray();
        var expected = new Dictionary<string, int>();
        foreach (var plan in plans)
        {
            expected[plan.LaunchName] = expected.GetValueOrDefault(plan.LaunchName) + 1;
            if (plan.Parts > 1) expected[GpuConvPlan.FinishLaunchName] = expected.GetValueOrDefault(GpuConvPlan.FinishLaunchName) + 1;
            if (Launches(profile) <= 25) Assert.Contains(plan.ToString(), profile.ToString());   // the detail names the plan that ran (25 kept)
        }
        Assert.Equal(expected.OrderBy(kv => kv.Key), ConvLaunches(profile).OrderBy(kv => kv.Key));
        output.WriteLine($"{what}:\n  {string.Join("\n  ", plans.Select(pl => pl.ToString()))}");
        return plans;
    }

    /// <summary>The profile's launch counts of the conv kernels, by name.</summary>
    private static Dictionary<string, int> ConvLaunches(KernelProfile profile) =>
        Regex.Matches(profile.ToString(), @"^  (Conv2d\S*(?: \S+)?)\s+(\d+) launches", RegexOptions.Multiline)
            .ToDictionary(m => m.Groups[1].Value, m => int.Parse(m.Groups[2].Value));

    /// <summary>Relative to the largest |expected| (sums of signed terms cancel, so single elements can be near 0).</summary>
    private void Close(Tensor expected, Tensor actual, double tol, string what)
    {
        var ev = expected.ToDoubleArray();
        double scale = Math.Max(1, ev.Max(Math.Abs));
        Assert.Equal(gpu.Device, actual.Device);
        Check.Close(ev, actual.To(Device.Cpu), tol, tol * scale, what);
    }

    /// <summary>The tiled passes sum k ascending from zero whatever the thread group, so every group shape gives the same
    /// bits; the tiled weight gradient also equals the direct one bit for bit (same positions per part, same order).</summary>
    [Fact]
    public void TiledPassesAreBitIdenticalAcrossGroupShapes()
    {
        var rng = new Random(11);
        var dev = gpu.Device;
        var be = gpu.Backend;
        var p = new Conv2dParams(2, 2, 1, 1, 1, 1, 2);
        var x = TensorGen.Random(rng, [2, 6, 9, 9], DType.Float32).To(dev);
        var w = TensorGen.Random(rng, [10, 3, 3, 3], DType.Float32).To(dev);
        var dy = TensorGen.Random(rng, [2, 10, 5, 5], DType.Float32).To(dev);
        float[][] RunAll()
        {
            var y = Tensor.Empty([2, 10, 5, 5], DType.Float32, dev);
            var gx = Tensor.Empty([2, 6, 9, 9], DType.Float32, dev);
            var gw = Tensor.Empty([10, 3, 3, 3], DType.Float32, dev);
            be.Conv2dForward(x, w, null, y, p);
            be.Conv2dBackwardInput(dy, w, gx, p);
            be.Conv2dBackwardWeight(dy, x, gw, p);
            return [y.To(Device.Cpu).ToArray<float>(), gx.To(Device.Cpu).ToArray<float>(), gw.To(Device.Cpu).ToArray<float>()];
        }
        var saved = (be.TiledConv, be.TiledConvMinOutChannels, be.ConvWeightGradChunk, be.MatMulGroup);
        try
        {
            (be.TiledConvMinOutChannels, be.ConvWeightGradChunk) = (1, 9);
            var reference = RunAll();
            foreach (var g in new (int, int)[] { (1, 1), (2, 4), (4, 2), (3, 3) })
            {
                be.MatMulGroup = g;
                var r = RunAll();
                for (int i = 0; i < 3; i++) Assert.True(reference[i].SequenceEqual(r[i]), $"pass {i} differs with group {g}");
            }
            (be.TiledConv, be.MatMulGroup) = (false, null);
            Assert.Equal(reference[2], RunAll()[2]);
        }
        finally { (be.TiledConv, be.TiledConvMinOutChannels, be.ConvWeightGradChunk, be.MatMulGroup) = saved; }
    }

    /// <summary>The weight gradient split into chunks of the N·OH·OW reduction (partials + a combining launch) equals
    /// the CPU, for chunks that do and do not divide the reduction, with a channels-last input and a strided gradient,
    /// on both kernels.</summary>
    [Theory]
    [InlineData(1, false)]
    [InlineData(7, false)]
    [InlineData(25, false)]
    [InlineData(7, true)]
    [InlineData(32, true)]
    public void SplitWeightGradientAgreesWithTheCpu(int chunk, bool tiled)
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
        var be = gpu.Backend;
        var saved = (be.ConvWeightGradChunk, be.TiledConvMinOutChannels);
        (be.ConvWeightGradChunk, be.TiledConvMinOutChannels) = (chunk, tiled ? 1 : 16);
        try
        {
            var plan = be.PlanConv(GpuConvPass.BackwardWeight, DType.Float64, [2, 4, 7, 7], [6, 2, 3, 3], [2, 6, 4, 4], p);
            Assert.Equal(tiled, plan.Kernel == GpuConvKernel.TiledGemm);
            Assert.Equal((32 + chunk - 1) / chunk, plan.Parts);
            be.Conv2dBackwardWeight(Gy(gyBase.To(gpu.Device)), X(xBase.To(gpu.Device)), actual, p);
        }
        finally { (be.ConvWeightGradChunk, be.TiledConvMinOutChannels) = saved; }
        Close(expected, actual, 1e-12, $"weight gradient in chunks of {chunk}{(tiled ? " tiled" : "")}");
    }

    /// <summary>The plan of a few full-size encoder layers (no launch): what runs where, and readable.</summary>
    [Fact]
    public void PlansOfFullSizeLayers()
    {
        var be = gpu.Backend;
        var s1 = new Conv2dParams(1, 1, 1, 1, 1, 1, 1);
        var r18 = be.PlanConv(GpuConvPass.BackwardWeight, DType.Float32, [32, 64, 24, 24], [64, 64, 3, 3], [32, 64, 24, 24], s1);
        output.WriteLine(r18.ToString());
        Assert.Equal(GpuConvKernel.TiledGemm, r18.Kernel);
        Assert.Equal((64L, 576L, 32L * 24 * 24), (r18.M, r18.N, r18.K));
        Assert.Equal((32 * 24 * 24 + 4095) / 4096, r18.Parts);
        Assert.Equal(2, r18.Launches);
        var dw = be.PlanConv(GpuConvPass.Forward, DType.Float32, [32, 96, 24, 24], [96, 1, 7, 7], [32, 96, 24, 24], new Conv2dParams(1, 1, 3, 3, 1, 1, 96));
        output.WriteLine(dw.ToString());
        Assert.Equal(GpuConvKernel.DepthwiseTiled, dw.Kernel);
        var dw2 = be.PlanConv(GpuConvPass.Forward, DType.Float32, [32, 96, 24, 24], [96, 1, 7, 7], [32, 96, 12, 12], new Conv2dParams(2, 2, 3, 3, 1, 1, 96));
        Assert.Equal(GpuConvKernel.Depthwise, dw2.Kernel);                  // stride 2: the per-element depthwise kernel
        var stem = be.PlanConv(GpuConvPass.BackwardInput, DType.Float32, [32, 3, 96, 96], [64, 3, 7, 7], [32, 64, 48, 48], new Conv2dParams(2, 2, 3, 3, 1, 1, 1));
        output.WriteLine(stem.ToString());
        Assert.Equal(GpuConvKernel.Direct, stem.Kernel);                    // 3 input channels: a 16-row tile would be mostly empty
        // The SparK decoder's ConvTranspose2d k4 s2 p1 (forward = the conv's input gradient): 4 stride phases of 2x2 taps,
        // a quarter of the all-taps GEMM's multiply-adds, still one launch.
        var up = be.PlanConv(GpuConvPass.BackwardInput, DType.Float32, [32, 256, 24, 24], [512, 256, 4, 4], [32, 512, 12, 12], new Conv2dParams(2, 2, 1, 1, 1, 1, 1));
        output.WriteLine(up.ToString());
        Assert.Equal((GpuConvKernel.TiledGemm, 4, 1), (up.Kernel, up.Phases, up.Launches));
        Assert.Equal((32L * 12 * 12, 512L * 4), (up.N, up.K));
        Assert.Equal(256L * (32 * 24 * 24) * (512 * 16) / 4, up.Macs);
        var dil = be.PlanConv(GpuConvPass.BackwardInput, DType.Float32, [2, 32, 9, 9], [32, 32, 3, 3], [2, 32, 3, 3], new Conv2dParams(2, 2, 2, 2, 2, 2, 1));
        Assert.Equal(GpuConvKernel.Direct, dil.Kernel);                     // stride and dilation 2 on one axis: no exact phases
        Assert.Contains("tiled implicit GEMM", r18.ToString());
        Assert.Contains("split-K", r18.ToString());
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
        int minTiled = be.TiledConvMinOutChannels;
        try
        {
            foreach (int min in new[] { 16, 1 })                                                // direct, then every pass tiled
            {
                be.TiledConvMinOutChannels = min;
                foreach (var (name, kernel, seam) in passes)
                {
                    int now = Launches(kernel);
                    output.WriteLine($"{name}{(min == 1 ? " (tiled)" : "")}: {now} launch(es){(min == 1 ? "" : $", seam composition {Launches(seam)}")}");
                    Assert.True(now == 1, $"{name}: {now} launches, expected 1");
                }
            }
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
        return Launches(profile);
    }

    private static int Launches(KernelProfile profile)
    {
        var m = Regex.Match(profile.ToString(), @" in (\d+) launches");
        Assert.True(m.Success, profile.ToString());
        return int.Parse(m.Groups[1].Value);
    }
}

/// <summary>The wide tiled kernel (8x8 micro-tiles on 128x128 tiles, 256 threads) on the warp-32 simulator, whose groups
/// allow 256 threads: the plan picks it for GEMMs of 128+ rows, and every pass equals the 4x4 kernel bit for bit (same
/// summation order), float32 and float64, the weight gradient whole and split.</summary>
[Collection(Tf32SimulatorCollection.Name)]
public class GpuConvWideTileTests(Tf32SimulatorFixture sim, ITestOutputHelper output)
{
    /// <summary>The wide entries' 64 accumulators (eight Row8 structs) stay in registers: no local memory in the PTX.</summary>
    [Fact]
    public void WidePtxHasNoLocalMemory()
    {
        using var context = ILGPU.Context.Create(b => b.EnableAlgorithms());
        var arch = ILGPU.Runtime.Cuda.CudaArchitecture.SM_80;
        using var backend = new ILGPU.Backends.PTX.PTXBackend(context, new ILGPU.Runtime.Cuda.CudaCapabilityContext(arch), arch,
            ILGPU.Runtime.Cuda.CudaInstructionSet.ISA_80, null!);
        foreach (var name in new[] { nameof(Sparkle.Gpu.Kernels.TiledConvKernel.ForwardWide), nameof(Sparkle.Gpu.Kernels.TiledConvKernel.BackwardInputWide),
                     nameof(Sparkle.Gpu.Kernels.TiledConvKernel.BackwardWeightWide) })
            foreach (var (t, e) in new[] { (typeof(float), typeof(Sparkle.Gpu.Kernels.F32)), (typeof(double), typeof(Sparkle.Gpu.Kernels.F64)) })
            {
                var kernel = typeof(Sparkle.Gpu.Kernels.TiledConvKernel).GetMethod(name)!.MakeGenericMethod(t, e);
                var compiled = (ILGPU.Backends.PTX.PTXCompiledKernel)backend.Compile(
                    ILGPU.Backends.EntryPoints.EntryPointDescription.FromExplicitlyGroupedKernel(kernel), ILGPU.Runtime.KernelSpecialization.Empty);
                string ptx = compiled.PTXAssembly;
                output.WriteLine($"{name}<{t.Name}>: {ptx.Length} chars");
                Assert.DoesNotContain("ld.local", ptx);
                Assert.DoesNotContain("st.local", ptx);
            }
    }

    [Theory]
    [InlineData("f32", int.MaxValue)]
    [InlineData("f64", 5)]
    public void WideTilesAreBitIdenticalToTheNarrowOnes(string dt, int chunk)
    {
        var be = sim.Backend;
        var dtype = dt == "f32" ? DType.Float32 : DType.Float64;
        var dev = be.Device;
        var rng = new Random(17);
        var p = new Conv2dParams(1, 1, 0, 0, 1, 1, 1);
        int[] xs = [1, 130, 4, 4], ws = [130, 130, 1, 1], ys = [1, 130, 4, 4];
        var x = TensorGen.Random(rng, xs, dtype).To(dev);
        var w = TensorGen.Random(rng, ws, dtype).To(dev);
        var dy = TensorGen.Random(rng, ys, dtype).To(dev);
        double[][] RunAll()
        {
            var y = Tensor.Empty(ys, dtype, dev);
            var gx = Tensor.Empty(xs, dtype, dev);
            var gw = Tensor.Empty(ws, dtype, dev);
            be.Conv2dForward(x, w, null, y, p);
            be.Conv2dBackwardInput(dy, w, gx, p);
            be.Conv2dBackwardWeight(dy, x, gw, p);
            return [y.To(Device.Cpu).ToDoubleArray(), gx.To(Device.Cpu).ToDoubleArray(), gw.To(Device.Cpu).ToDoubleArray()];
        }
        var saved = (be.AllowTf32, be.TiledConvWide, be.ConvWeightGradChunk);
        try
        {
            (be.AllowTf32, be.ConvWeightGradChunk) = (false, chunk);
            var passes = new[] { GpuConvPass.Forward, GpuConvPass.BackwardInput, GpuConvPass.BackwardWeight };
            foreach (var pass in passes)
            {
                var plan = be.PlanConv(pass, dtype, xs, ws, ys, p);
                output.WriteLine(plan.ToString());
                Assert.Equal((GpuConvKernel.TiledGemm, 8, 128, 128), (plan.Kernel, plan.Micro, plan.TileM, plan.TileN));
            }
            var wide = RunAll();
            be.TiledConvWide = false;
            Assert.Equal(4, be.PlanConv(GpuConvPass.Forward, dtype, xs, ws, ys, p).Micro);
            var narrow = RunAll();
            for (int i = 0; i < 3; i++) Assert.True(narrow[i].SequenceEqual(wide[i]), $"pass {passes[i]}: wide and 4x4 tiles differ");
        }
        finally { (be.AllowTf32, be.TiledConvWide, be.ConvWeightGradChunk) = saved; }
    }
}
