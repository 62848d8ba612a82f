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

/// <summary>The shared-memory depthwise kernels (Gpu/Kernels/DepthwiseKernels.cs, <see cref="GpuConvKernel.DepthwiseTiled"/>)
/// against the CPU backend's conv kernels, backend call by backend call: forward (bias and none), input gradient and
/// weight gradient (whole and split into parts), float64 (1e-12) and float32 (1e-5) relative to the largest value, NCHW
/// and channels-last x / y / dx, a strided dy, batch 2-3; ConvNeXt's 7x7 p3 scaled down, maps that leave partial tiles
/// (9x11), channel counts that leave partial channel blocks, a row stride and row dilation (tiled), a column dilation
/// (per-element fallback), a 3x1 kernel (fewer columns than a thread's 4-output run). Three tiles: the default for the
/// simulator's 16-thread groups and two overrides (several channel lanes x column lanes x rows; 3 lanes x 5 rows).
/// Each run checks that the profile saw the launches <see cref="IlgpuBackend.PlanConv"/> names.</summary>
[Collection(IlgpuCollection.Name)]
public class GpuDepthwiseTests(IlgpuFixture gpu, ITestOutputHelper output)
{
    public sealed record Case(string Name, int N, int C, int H, int W, int KH, int KW, int SH, int SW, int PH, int PW, int DH, int DW)
    {
        public override string ToString() => Name;
        public Conv2dParams Params => new(SH, SW, PH, PW, DH, DW, C);
        public int OH => (H + 2 * PH - DH * (KH - 1) - 1) / SH + 1;
        public int OW => (W + 2 * PW - DW * (KW - 1) - 1) / SW + 1;
    }

    private static readonly Case[] Table =
    [
        new("ConvNeXt 7x7 p3 14x14", 2, 12, 14, 14, 7, 7, 1, 1, 3, 3, 1, 1),
        new("7x7 p3 9x11", 3, 6, 9, 11, 7, 7, 1, 1, 3, 3, 1, 1),
        new("3x3 p1 stride (2,1)", 2, 5, 9, 10, 3, 3, 2, 1, 1, 1, 1, 1),
        new("5x5 p2 dilation (2,1)", 2, 7, 8, 9, 5, 5, 1, 1, 2, 2, 2, 1),
        new("3x1 p(1,0)", 2, 9, 7, 6, 3, 1, 1, 1, 1, 0, 1, 1),
        new("3x3 dilation (1,2) falls back", 2, 4, 7, 8, 3, 3, 1, 1, 1, 2, 1, 2),
    ];

    private static readonly (int, int, int)?[] Tiles = [null, (4, 2, 2), (3, 1, 5)];

    public static IEnumerable<object[]> Runs()
    {
        // float64: every tile and layout; float32: one tile per case and layout (keeps the simulator time down). Bias
        // and the forced split alternate.
        int i = 0;
        foreach (var c in Table)
            foreach (var dt in new[] { "f64", "f32" })
                foreach (var cl in new[] { false, true })
                    for (int t = 0; t < Tiles.Length; t++, i++)
                        if (dt == "f64" || t == i / Tiles.Length % Tiles.Length)
                            yield return [c.Name, dt, cl, t, i % 2 == 0, i % 3 == 0 ? 7 : 4096];
    }

    [Theory]
    [MemberData(nameof(Runs))]
    public void AgreesWithTheCpu(string name, string dtype, bool channelsLast, int tile, bool bias, int chunk)
    {
        var c = Table.Single(t => t.Name == name);
        var dt = dtype == "f64" ? DType.Float64 : DType.Float32;
        double tol = dt == DType.Float64 ? 1e-12 : 1e-5;
        var be = gpu.Backend;
        var p = c.Params;
        var rng = new Random(name.GetHashCode() & 0xFFFF);
        int[] xs = [c.N, c.C, c.H, c.W], ws = [c.C, 1, c.KH, c.KW], ys = [c.N, c.C, c.OH, c.OW];
        var xBase = TensorGen.Random(rng, channelsLast ? [c.N, c.H, c.W, c.C] : xs, dt);
        var w = TensorGen.Random(rng, ws, dt);
        var b = bias ? TensorGen.Random(rng, [c.C], dt) : null;
        var dyBase = TensorGen.Random(rng, [c.N, c.C, c.OH, 2 * c.OW], dt);
        Tensor Act(Tensor t) => channelsLast ? t.Permute(0, 3, 1, 2) : t;                 // an NHWC buffer seen as NCHW
        Tensor Empty(int[] s, Device d) => Act(channelsLast ? Tensor.Empty([s[0], s[2], s[3], s[1]], dt, d) : Tensor.Empty(s, dt, d));
        Tensor Dy(Tensor t) => t.Slice(3, 0, 2 * c.OW, 2);                                  // every other column: strided

        (Tensor Y, Tensor Dx, Tensor Dw) Run(IBackend backend, Device d)
        {
            var x = Act(xBase.To(d));
            var (wd, bd, dy) = (w.To(d), b?.To(d), Dy(dyBase.To(d)));
            var (y, dx, dw) = (Empty(ys, d), Empty(xs, d), Tensor.Empty(ws, dt, d));
            backend.Conv2dForward(x, wd, bd, y, p);
            backend.Conv2dBackwardInput(dy, wd, dx, p);
            backend.Conv2dBackwardWeight(dy, x, dw, p);
            return (y, dx, dw);
        }

        var expected = Run(xBase.Backend, Device.Cpu);
        var saved = (be.DepthwiseGroup, be.ConvWeightGradChunk, be.DepthwiseWeightGradMinBlocks);
        var profile = new KernelProfile();
        GpuConvPlan[] plans;
        try
        {
            // chunk 7: split into parts of one tile; 4096: one part (no minimum grid), dw written directly.
            (be.DepthwiseGroup, be.ConvWeightGradChunk, be.DepthwiseWeightGradMinBlocks) = (Tiles[tile], chunk, chunk == 7 ? 512 : 1);
            plans = new[] { GpuConvPass.Forward, GpuConvPass.BackwardInput, GpuConvPass.BackwardWeight }
                .Select(pass => be.PlanConv(pass, dt, xs, ws, ys, p, channelsLast)).ToArray();
            be.Profile = profile;
            var actual = Run(be, gpu.Device);
            be.Profile = null;
            string what = $"{name} {dtype}{(channelsLast ? " channels-last" : "")} tile {Tiles[tile]}{(bias ? " bias" : "")} chunk {chunk}";
            Close(expected.Y, actual.Y, tol, $"{what} output");
            Close(expected.Dx, actual.Dx, tol, $"{what} input gradient");
            Close(expected.Dw, actual.Dw, tol, $"{what} weight gradient");
            output.WriteLine($"{what}:\n  {string.Join("\n  ", plans.Select(pl => pl.ToString()))}");
        }
        finally { be.Profile = null; (be.DepthwiseGroup, be.ConvWeightGradChunk, be.DepthwiseWeightGradMinBlocks) = saved; }

        // The rule: tiled with column stride and dilation 1; the input gradient also needs row stride 1.
        bool rows = c.SW == 1 && c.DW == 1;
        Assert.Equal(rows ? GpuConvKernel.DepthwiseTiled : GpuConvKernel.Depthwise, plans[0].Kernel);
        Assert.Equal(rows && c.SH == 1 ? GpuConvKernel.DepthwiseTiled : GpuConvKernel.Depthwise, plans[1].Kernel);
        Assert.Equal(rows ? GpuConvKernel.DepthwiseTiled : GpuConvKernel.Depthwise, plans[2].Kernel);
        if (chunk == 7) Assert.True(plans[2].Parts > 1, $"split not forced: {plans[2]}");
        else if (rows) Assert.Equal(1, plans[2].Parts);
        if (Tiles[tile] is { } g && rows) Assert.Equal((g.Item1, 4 * g.Item2, g.Item3), (plans[0].Tx, plans[0].TileCols, plans[0].TileRows));
        var launches = new Dictionary<string, int>();
        foreach (var plan in plans)
        {
            launches[plan.LaunchName] = launches.GetValueOrDefault(plan.LaunchName) + 1;
            if (plan.Parts > 1) launches[GpuConvPlan.FinishLaunchName] = launches.GetValueOrDefault(GpuConvPlan.FinishLaunchName) + 1;
            Assert.Contains(plan.ToString(), profile.ToString());
        }
        var seen = Regex.Matches(profile.ToString(), @"^  (Conv2d\S*(?: \S+)?)\s+(\d+) launches", RegexOptions.Multiline)
            .ToDictionary(m => m.Groups[1].Value, m => int.Parse(m.Groups[2].Value));
        Assert.Equal(launches.OrderBy(kv => kv.Key), seen.OrderBy(kv => kv.Key));
    }

    /// <summary>The tiled forward sums bias, then ky and kx ascending like the per-element kernel (padding adds exact
    /// zeros), so the two give the same bits on the simulator, whatever the tile.</summary>
    [Theory]
    [InlineData("f32", false)]
    [InlineData("f64", true)]
    public void TiledForwardEqualsThePerElementKernelBitForBit(string dtype, bool channelsLast)
    {
        var dt = dtype == "f64" ? DType.Float64 : DType.Float32;
        var be = gpu.Backend;
        var dev = gpu.Device;
        var rng = new Random(5);
        var p = new Conv2dParams(1, 1, 3, 3, 1, 1, 10);
        var x = TensorGen.Random(rng, channelsLast ? [2, 9, 13, 10] : [2, 10, 9, 13], dt).To(dev);
        if (channelsLast) x = x.Permute(0, 3, 1, 2);
        var w = TensorGen.Random(rng, [10, 1, 7, 7], dt).To(dev);
        var b = TensorGen.Random(rng, [10], dt).To(dev);
        double[] Forward()
        {
            var y = Tensor.Empty([2, 10, 9, 13], dt, dev);
            be.Conv2dForward(x, w, b, y, p);
            return y.To(Device.Cpu).ToDoubleArray();
        }
        var saved = (be.TiledDepthwise, be.DepthwiseGroup);
        try
        {
            be.TiledDepthwise = false;
            Assert.Equal(GpuConvKernel.Depthwise, be.PlanConv(GpuConvPass.Forward, dt, [2, 10, 9, 13], [10, 1, 7, 7], [2, 10, 9, 13], p, channelsLast).Kernel);
            var reference = Forward();
            be.TiledDepthwise = true;
            foreach (var g in new (int, int, int)?[] { null, (16, 1, 1), (2, 2, 4), (1, 3, 3) })
            {
                be.DepthwiseGroup = g;
                Assert.Equal(GpuConvKernel.DepthwiseTiled, be.PlanConv(GpuConvPass.Forward, dt, [2, 10, 9, 13], [10, 1, 7, 7], [2, 10, 9, 13], p, channelsLast).Kernel);
                Assert.True(reference.SequenceEqual(Forward()), $"tile {g}: tiled forward differs from the per-element kernel");
            }
        }
        finally { (be.TiledDepthwise, be.DepthwiseGroup) = saved; }
    }

    /// <summary>ConvNeXt's block through autograd on a channels-last input (the layout the block produces): Conv2d's
    /// output stays channels-last, and the forward, input, weight and bias gradients equal the CPU's.</summary>
    [Fact]
    public void ConvNeXtDepthwiseLayerThroughAutograd()
    {
        var rng = new Random(9);
        var xBase = TensorGen.Random(rng, [2, 11, 9, 20], DType.Float32);               // NHWC, 20 channels
        var w = TensorGen.Random(rng, [20, 1, 7, 7], DType.Float32);
        var b = TensorGen.Random(rng, [20], DType.Float32);
        (Tensor, Tensor, Tensor, Tensor) Pass(Device d)
        {
            var x = xBase.To(d).Permute(0, 3, 1, 2).Detach().RequireGrad();
            var (wt, bt) = (w.To(d).Detach().RequireGrad(), b.To(d).Detach().RequireGrad());
            var y = Functional.Conv2d(x, wt, bt, 1, 3, 1, 20);
            var gy = TensorGen.Random(new Random(4), [2, 20, 11, 9], DType.Float32).To(d);
            y.Backward(gy);
            return (y.Detach(), x.Grad!, wt.Grad!, bt.Grad!);
        }
        var e = Pass(Device.Cpu);
        var profile = new KernelProfile();
        gpu.Backend.Profile = profile;
        (Tensor, Tensor, Tensor, Tensor) a;
        try { a = Pass(gpu.Device); }
        finally { gpu.Backend.Profile = null; }
        Assert.Equal(1, a.Item1.Stride(1));
        Close(e.Item1, a.Item1, 1e-5, "output");
        Close(e.Item2, a.Item2, 1e-5, "input gradient");
        Close(e.Item3, a.Item3, 1e-5, "weight gradient");
        Close(e.Item4, a.Item4, 1e-5, "bias gradient");
        string text = profile.ToString();
        foreach (var pass in new[] { "Forward", "BackwardInput", "BackwardWeight" })
            Assert.Contains($"Conv2d{pass}(depthwise-tiled", text);
    }

    /// <summary>Plans of ConvNeXt-T's depthwise layers on the device's group size (here the simulator's 16 threads): all
    /// three passes tiled at every stage; a stride-2 depthwise conv keeps the per-element kernels.</summary>
    [Fact]
    public void PlansOfConvNeXtLayers()
    {
        var be = gpu.Backend;
        foreach (var (ch, px) in new[] { (96, 56), (192, 28), (384, 14), (768, 7) })
            foreach (var pass in new[] { GpuConvPass.Forward, GpuConvPass.BackwardInput, GpuConvPass.BackwardWeight })
            {
                var plan = be.PlanConv(pass, DType.Float32, [64, ch, px, px], [ch, 1, 7, 7], [64, ch, px, px], new Conv2dParams(1, 1, 3, 3, 1, 1, ch), channelsLast: true);
                output.WriteLine(plan.ToString());
                Assert.Equal(GpuConvKernel.DepthwiseTiled, plan.Kernel);
                Assert.Contains("depthwise tiled", plan.ToString());
                Assert.True(plan.Parts <= 256);
            }
        var s2 = be.PlanConv(GpuConvPass.Forward, DType.Float32, [2, 8, 9, 9], [8, 1, 7, 7], [2, 8, 5, 5], new Conv2dParams(2, 2, 3, 3, 1, 1, 8));
        Assert.Equal(GpuConvKernel.Depthwise, s2.Kernel);
    }

    /// <summary>The depthwise kernels compile for sm_80 (they are in KernelCatalog.Grouped, so PtxCompileTests compiles them
    /// for sm_80 and sm_90 too) with their accumulators and rolling windows in registers: no local memory, and the
    /// inner loops read the dynamic shared memory.</summary>
    [Fact]
    public void DepthwisePtxHasNoLocalMemory()
    {
        using var context = ILGPU.Context.Create(b => b.EnableAlgorithms());
        var arch = ILGPU.Runtime.Cuda.CudaArchitecture.SM_80;
        using var backend = new ILGPU.Backends.PTX.PTXBackend(context, new ILGPU.Runtime.Cuda.CudaCapabilityContext(arch), arch,
            ILGPU.Runtime.Cuda.CudaInstructionSet.ISA_80, null!);
        foreach (var name in new[] { nameof(Sparkle.Gpu.Kernels.DepthwiseKernels.Correlate), nameof(Sparkle.Gpu.Kernels.DepthwiseKernels.WeightGrad) })
            foreach (var (t, e) in new[] { (typeof(float), typeof(Sparkle.Gpu.Kernels.F32)), (typeof(double), typeof(Sparkle.Gpu.Kernels.F64)) })
            {
                var kernel = typeof(Sparkle.Gpu.Kernels.DepthwiseKernels).GetMethod(name)!.MakeGenericMethod(t, e);
                var compiled = (ILGPU.Backends.PTX.PTXCompiledKernel)backend.Compile(
                    ILGPU.Backends.EntryPoints.EntryPointDescription.FromExplicitlyGroupedKernel(kernel), ILGPU.Runtime.KernelSpecialization.Empty);
                string ptx = compiled.PTXAssembly;
                output.WriteLine($"{name}<{t.Name}>: {ptx.Length} chars, {Regex.Matches(ptx, @"ld\.shared").Count} shared loads");
                Assert.DoesNotContain("ld.local", ptx);
                Assert.DoesNotContain("st.local", ptx);
                Assert.Contains(".extern .shared", ptx);                                  // the dynamic shared window
                Assert.Contains("bar.sync", ptx);
            }
    }

    private void Close(Tensor expected, Tensor actual, double tol, string what)
    {
        var ev = expected.ToDoubleArray();
        double scale = Math.Max(1, ev.Max(Math.Abs));
        Assert.Equal(gpu.Device, actual.Device);
        Check.Close(ev, actual.To(Device.Cpu), tol, tol * scale, what);
    }
}

/// <summary>The depthwise kernels with the tiles a GPU gets (channels-last: 32 channel lanes x 2 column lanes x 4 rows,
/// 256 threads; the weight gradient 32 lanes x 14 tap jobs over pixel tiles; NCHW: 8 column lanes x 8-16 rows) on
/// the warp-32 simulator, whose groups allow them: 40 channels (a full and a partial block of 32), 8x9 and 5x11 maps,
/// against the CPU, float32.</summary>
[Collection(Tf32SimulatorCollection.Name)]
public class GpuDepthwiseGpuTileTests(Tf32SimulatorFixture sim, ITestOutputHelper output)
{
    /// <summary>The plans a GPU-sized group gives ConvNeXt-T's depthwise layers at 224 px, batch 64, channels-last (no
    /// launch): the numbers docs/gpu.md quotes.</summary>
    [Fact]
    public void PlansOfConvNeXtLayersWithGpuGroups()
    {
        var be = sim.Backend;
        foreach (var (ch, px) in new[] { (96, 56), (192, 28), (384, 14), (768, 7) })
            foreach (var pass in new[] { GpuConvPass.Forward, GpuConvPass.BackwardInput, GpuConvPass.BackwardWeight })
            {
                var plan = be.PlanConv(pass, DType.Float32, [64, ch, px, px], [ch, 1, 7, 7], [64, ch, px, px], new Conv2dParams(1, 1, 3, 3, 1, 1, ch), channelsLast: true);
                output.WriteLine($"{ch}@{px}: {plan}");
                Assert.Equal(GpuConvKernel.DepthwiseTiled, plan.Kernel);
            }
        var p = new Conv2dParams(1, 1, 3, 3, 1, 1, 96);
        var fwd = be.PlanConv(GpuConvPass.Forward, DType.Float32, [64, 96, 56, 56], [96, 1, 7, 7], [64, 96, 56, 56], p, channelsLast: true);
        Assert.Equal((32, 8, 8, 4, 24192), (fwd.Tx, fwd.Ty, fwd.TileCols, fwd.TileRows, fwd.SharedBytes));
        var dw = be.PlanConv(GpuConvPass.BackwardWeight, DType.Float32, [64, 96, 56, 56], [96, 1, 7, 7], [64, 96, 56, 56], p, channelsLast: true);
        Assert.Equal((32, 14, 16, 4, 171), (dw.Tx, dw.Ty, dw.TileCols, dw.TileRows, dw.Parts));
    }

    [Theory]
    [InlineData(8, 9, true)]
    [InlineData(5, 11, false)]
    public void GpuSizedTilesAgreeWithTheCpu(int h, int w, bool channelsLast)
    {
        var be = sim.Backend;
        var dev = be.Device;
        const int n = 2, c = 40;
        var p = new Conv2dParams(1, 1, 3, 3, 1, 1, c);
        var rng = new Random(h * 100 + w);
        int[] xs = [n, c, h, w], ws = [c, 1, 7, 7];
        var xBase = TensorGen.Random(rng, channelsLast ? [n, h, w, c] : xs, DType.Float32);
        var dyBase = TensorGen.Random(rng, channelsLast ? [n, h, w, c] : xs, DType.Float32);
        var wt = TensorGen.Random(rng, ws, DType.Float32);
        var b = TensorGen.Random(rng, [c], DType.Float32);
        Tensor Act(Tensor t) => channelsLast ? t.Permute(0, 3, 1, 2) : t;
        Tensor Empty(Device d) => Act(channelsLast ? Tensor.Empty([n, h, w, c], DType.Float32, d) : Tensor.Empty(xs, DType.Float32, d));
        (Tensor, Tensor, Tensor) Run(IBackend backend, Device d)
        {
            var (x, dy, wd, bd) = (Act(xBase.To(d)), Act(dyBase.To(d)), wt.To(d), b.To(d));
            var (y, dx, dw) = (Empty(d), Empty(d), Tensor.Empty(ws, DType.Float32, d));
            backend.Conv2dForward(x, wd, bd, y, p);
            backend.Conv2dBackwardInput(dy, wd, dx, p);
            backend.Conv2dBackwardWeight(dy, x, dw, p);
            return (y, dx, dw);
        }
        var plans = new[] { GpuConvPass.Forward, GpuConvPass.BackwardInput, GpuConvPass.BackwardWeight }
            .Select(pass => be.PlanConv(pass, DType.Float32, xs, ws, xs, p, channelsLast)).ToArray();
        foreach (var plan in plans) output.WriteLine(plan.ToString());
        Assert.All(plans, pl => Assert.Equal(GpuConvKernel.DepthwiseTiled, pl.Kernel));
        // NCHW: 16 rows, halved while half of them would cover the map (5 rows: 8).
        Assert.Equal(channelsLast ? (32, 8, 4) : (1, 32, 8), (plans[0].Tx, plans[0].TileCols, plans[0].TileRows));
        Assert.Equal(32 * 14, plans[2].Tx * plans[2].Ty);
        Assert.True(plans[2].Parts > 1, plans[2].ToString());                     // the minimum grid splits it
        var e = Run(xBase.Backend, Device.Cpu);
        var a = Run(be, dev);
        foreach (var (ex, ac, what) in new[] { (e.Item1, a.Item1, "output"), (e.Item2, a.Item2, "input gradient"), (e.Item3, a.Item3, "weight gradient") })
        {
            var ev = ex.ToDoubleArray();
            double scale = Math.Max(1, ev.Max(Math.Abs));
            Check.Close(ev, ac.To(Device.Cpu), 1e-5, 1e-5 * scale, what);
        }
    }
}
