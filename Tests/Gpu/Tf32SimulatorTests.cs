using Sparkle.Gpu;
using Sparkle.Gpu.Kernels;
using Sparkle.Nn;
using Sparkle.Tensors;
using Sparkle.Tensors.Backend;
using Xunit;
using Xunit.Abstractions;

namespace Sparkle.Tests.Gpu;

/// <summary>A backend on ILGPU's warp-32 CPU simulator (<see cref="IlgpuBackend.CreateWarp32Simulator"/>), shared by the
/// TF32 tests: there <see cref="Tf32Gemm"/> runs its emulated-mma branch with the same tiles and fragment loads.</summary>
public sealed class Tf32SimulatorFixture : IDisposable
{
    public IlgpuBackend Backend { get; } = IlgpuBackend.CreateWarp32Simulator();
    public void Dispose() => Backend.Dispose();
}

[CollectionDefinition(Name)]
public sealed class Tf32SimulatorCollection : ICollectionFixture<Tf32SimulatorFixture>
{
    public const string Name = "ILGPU warp-32 CPU simulator (TF32)";
}

/// <summary>The TF32 GEMM on the simulator against host references: the tf32-rounded product (float64 sums) must match
/// to FP32 accumulation error, and the exact product must differ by TF32 rounding (so the test sees a non-TF32 result
/// too). Sizes cross the 128x128x16 tile edges in M, N and K.</summary>
[Collection(Tf32SimulatorCollection.Name)]
public class Tf32SimulatorTests(Tf32SimulatorFixture sim, ITestOutputHelper output)
{
    private IlgpuBackend B => sim.Backend;

    /// <summary>‖actual − ref‖_F / ‖ref‖_F.</summary>
    private static double RelErr(double[] actual, double[] reference)
    {
        double num = 0, den = 0;
        for (int i = 0; i < actual.Length; i++) { num += (actual[i] - reference[i]) * (actual[i] - reference[i]); den += reference[i] * reference[i]; }
        return Math.Sqrt(num / den);
    }

    private static double[] HostMatMul(float[] a, float[] b, int batch, int m, int k, int n, bool tf32)
    {
        var c = new double[batch * m * n];
        for (int z = 0; z < batch; z++)
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++)
                {
                    double s = 0;
                    for (int q = 0; q < k; q++)
                    {
                        float x = a[(z * m + i) * k + q], y = b[(z * k + q) * n + j];
                        if (tf32) { x = Tf32Fragment.RoundTf32(x); y = Tf32Fragment.RoundTf32(y); }
                        s += (double)x * y;
                    }
                    c[(z * m + i) * n + j] = s;
                }
        return c;
    }

    [Theory]
    [InlineData(1, 130, 40, 70, false)]     // two M blocks, K tail, N tail
    [InlineData(2, 21, 9, 150, false)]      // batched, two N blocks, K < 16
    [InlineData(1, 37, 33, 29, true)]       // A transposed (k fastest is false)
    public void MatMulMatchesTheHostTf32Reference(int batch, int m, int k, int n, bool transA)
    {
        var ca = Tensor.Randn([batch, m, k], new Generator(5));
        var cb = Tensor.Randn([batch, k, n], new Generator(6));
        var da = transA ? ca.Transpose(1, 2).Contiguous().To(B.Device).Transpose(1, 2) : ca.To(B.Device);
        var db = cb.To(B.Device);
        B.AllowTf32 = true;
        long before = B.Tf32Launches;
        var r = da.MatMul(db).To(Device.Cpu).ToDoubleArray();
        Assert.Equal(before + 1, B.Tf32Launches);
        var ha = ca.ToArray<float>();
        var hb = cb.ToArray<float>();
        double eTf32 = RelErr(r, HostMatMul(ha, hb, batch, m, k, n, tf32: true));
        double eExact = RelErr(r, HostMatMul(ha, hb, batch, m, k, n, tf32: false));
        output.WriteLine($"({batch},{m},{k})x({k},{n}): vs tf32 reference {eTf32:E2}, vs exact {eExact:E2}");
        Assert.True(eTf32 < 1e-6, $"emulated TF32 GEMM vs host TF32 reference: {eTf32:E2}");
        Assert.True(eExact > 1e-4 && eExact < IlgpuBackend.Tf32SelfCheckBound, $"vs the exact product: {eExact:E2} (expected TF32 rounding, ~5e-4)");
    }

    [Fact]
    public void ConvForwardMatchesTheHostTf32Reference()
    {
        // 20 output channels (>= TiledConvMinOutChannels), 3x3 pad 1 stride 2, bias, two groups of 10.
        var x = Tensor.Randn([2, 6, 9, 9], new Generator(7));
        var w = Tensor.Randn([20, 3, 3, 3], new Generator(8));
        var bias = Tensor.Randn([20], new Generator(9));
        B.AllowTf32 = true;
        B.TiledConvMinOutChannels = 8;
        var plan = B.PlanConv(GpuConvPass.Forward, DType.Float32, [2, 6, 9, 9], [20, 3, 3, 3], [2, 20, 5, 5], new Conv2dParams(2, 2, 1, 1, 1, 1, 2));
        Assert.Equal((GpuConvKernel.Tf32, "Conv2dForward(tf32)", 128, 256), (plan.Kernel, plan.LaunchName, plan.TileN, plan.Tx * plan.Ty));
        long before = B.Tf32Launches;
        var r = Functional.Conv2d(x.To(B.Device), w.To(B.Device), bias.To(B.Device), 2, 1, 1, 2).To(Device.Cpu).ToDoubleArray();
        B.TiledConvMinOutChannels = 16;
        Assert.Equal(before + 1, B.Tf32Launches);
        var exact = Functional.Conv2d(x, w, bias, 2, 1, 1, 2).ToDoubleArray();
        var rounded = Functional.Conv2d(Round(x), Round(w), bias, 2, 1, 1, 2).ToDoubleArray();
        double eTf32 = RelErr(r, rounded), eExact = RelErr(r, exact);
        output.WriteLine($"conv: vs tf32-rounded inputs {eTf32:E2}, vs exact {eExact:E2}");
        Assert.True(eTf32 < 1e-6, $"emulated TF32 conv vs rounded-input CPU conv: {eTf32:E2}");
        Assert.True(eExact > 1e-4 && eExact < IlgpuBackend.Tf32SelfCheckBound, $"vs the exact conv: {eExact:E2}");
    }

    /// <summary>The float32 input and weight gradients on the TF32 core (the plan names it): against the CPU backend's
    /// passes on tf32-rounded inputs (cvt.rna) and on the exact ones. Two groups, stride 2 and padding 1 (4 stride phases
    /// of the input gradient); the weight gradient whole (Parts 1, through dw's strides) and split into chunks that do not
    /// divide the 50 positions, with an NCHW and a channels-last x (tap-major columns).</summary>
    [Theory]
    [InlineData(int.MaxValue, false)]
    [InlineData(16, false)]
    [InlineData(7, true)]
    public void ConvGradientsMatchTheHostTf32Reference(int chunk, bool channelsLast)
    {
        var p = new Conv2dParams(2, 2, 1, 1, 1, 1, 2);
        int[] xs = [2, 16, 9, 9], ws = [20, 8, 3, 3], ys = [2, 20, 5, 5];
        var x = Tensor.Randn(xs, new Generator(10));
        var w = Tensor.Randn(ws, new Generator(11));
        var dy = Tensor.Randn(ys, new Generator(12));
        Tensor Dev(Tensor t) => channelsLast && t.Rank == 4 && t.Size(1) == 16
            ? t.Permute(0, 2, 3, 1).Contiguous().To(B.Device).Permute(0, 3, 1, 2) : t.To(B.Device);
        var saved = (B.TiledConvMinOutChannels, B.ConvWeightGradChunk);
        (B.AllowTf32, B.TiledConvMinOutChannels, B.ConvWeightGradChunk) = (true, 8, chunk);
        var profile = new KernelProfile();
        B.Profile = profile;
        double[] gx, gw;
        GpuConvPlan inputPlan, weightPlan;
        try
        {
            inputPlan = B.PlanConv(GpuConvPass.BackwardInput, DType.Float32, xs, ws, ys, p);
            weightPlan = B.PlanConv(GpuConvPass.BackwardWeight, DType.Float32, xs, ws, ys, p);
            Assert.Equal((GpuConvKernel.Tf32, 4), (inputPlan.Kernel, inputPlan.Phases));
            Assert.Equal(GpuConvKernel.Tf32, weightPlan.Kernel);
            Assert.Equal(chunk == int.MaxValue ? 1 : (50 + chunk - 1) / chunk, weightPlan.Parts);
            Assert.Equal(GpuConvKernel.TiledGemm, B.PlanConv(GpuConvPass.BackwardWeight, DType.Float64, xs, ws, ys, p).Kernel);
            long before = B.Tf32Launches;
            var dgx = Tensor.Empty(xs, DType.Float32, B.Device);
            var dgw = Tensor.Empty(ws, DType.Float32, B.Device);
            B.Conv2dBackwardInput(dy.To(B.Device), w.To(B.Device), dgx, p);
            B.Conv2dBackwardWeight(dy.To(B.Device), Dev(x), dgw, p);
            Assert.Equal(before + 2, B.Tf32Launches);
            (gx, gw) = (dgx.To(Device.Cpu).ToDoubleArray(), dgw.To(Device.Cpu).ToDoubleArray());
        }
        finally { (B.TiledConvMinOutChannels, B.ConvWeightGradChunk, B.Profile) = (saved.TiledConvMinOutChannels, saved.ConvWeightGradChunk, null); }
        string prof = profile.ToString();
        Assert.Contains(inputPlan.LaunchName, prof);
        Assert.Contains(weightPlan.LaunchName, prof);
        Assert.Contains(inputPlan.ToString(), prof);                    // the detail names the plan that ran
        Assert.Contains(weightPlan.ToString(), prof);
        Assert.Equal(weightPlan.Parts > 1, prof.Contains(GpuConvPlan.FinishLaunchName));

        double[] CpuInput(Tensor dyt, Tensor wt)
        {
            var r = Tensor.Zeros(xs, DType.Float32);
            dyt.Backend.Conv2dBackwardInput(dyt, wt, r, p);
            return r.ToDoubleArray();
        }
        double[] CpuWeight(Tensor dyt, Tensor xt)
        {
            var r = Tensor.Zeros(ws, DType.Float32);
            dyt.Backend.Conv2dBackwardWeight(dyt, xt, r, p);
            return r.ToDoubleArray();
        }
        double eInTf32 = RelErr(gx, CpuInput(Round(dy), Round(w))), eInExact = RelErr(gx, CpuInput(dy, w));
        double eWTf32 = RelErr(gw, CpuWeight(Round(dy), Round(x))), eWExact = RelErr(gw, CpuWeight(dy, x));
        output.WriteLine($"chunk {chunk}{(channelsLast ? " channels-last" : "")}: input gradient vs tf32 {eInTf32:E2}, vs exact {eInExact:E2}; " +
            $"weight gradient vs tf32 {eWTf32:E2}, vs exact {eWExact:E2}\n  {inputPlan}\n  {weightPlan}");
        Assert.True(eInTf32 < 1e-6, $"emulated TF32 input gradient vs rounded-input CPU: {eInTf32:E2}");
        Assert.True(eWTf32 < 1e-6, $"emulated TF32 weight gradient vs rounded-input CPU: {eWTf32:E2}");
        Assert.True(eInExact > 1e-4 && eInExact < IlgpuBackend.Tf32SelfCheckBound, $"input gradient vs exact: {eInExact:E2}");
        Assert.True(eWExact > 1e-4 && eWExact < IlgpuBackend.Tf32SelfCheckBound, $"weight gradient vs exact: {eWExact:E2}");
    }

    private static Tensor Round(Tensor t) =>
        Tensor.FromArray(t.ToArray<float>().Select(Tf32Fragment.RoundTf32).ToArray(), t.ShapeArray());

    [Fact]
    public void DispatchPicksFp32WhenTf32IsOffAndForFloat64()
    {
        var a = Tensor.Randn([3, 20, 5], new Generator(1));
        var b = Tensor.Randn([3, 5, 7], new Generator(2));
        Assert.True(B.Tf32Capable);
        B.AllowTf32 = false;
        long before = B.Tf32Launches, tiled = B.TiledMatMulLaunches;
        a.To(B.Device).MatMul(b.To(B.Device)).To(Device.Cpu);
        Assert.Equal(before, B.Tf32Launches);
        Assert.Equal(tiled + 1, B.TiledMatMulLaunches);
        B.AllowTf32 = true;
        a.To(DType.Float64).To(B.Device).MatMul(b.To(DType.Float64).To(B.Device)).To(Device.Cpu);
        Assert.Equal(before, B.Tf32Launches);
        a.To(B.Device).MatMul(b.To(B.Device)).To(Device.Cpu);
        Assert.Equal(before + 1, B.Tf32Launches);
        double err = B.RunTf32SelfCheck();
        output.WriteLine($"self-check on the simulator: {err:E2}");
        Assert.True(err > 1e-4 && err < IlgpuBackend.Tf32SelfCheckBound);
    }
}

/// <summary>The standard simulator (16-thread groups) cannot run the TF32 kernel and never picks it.</summary>
[Collection(IlgpuCollection.Name)]
public class Tf32DefaultSimulatorTests(IlgpuFixture gpu)
{
    [Fact]
    public void TheDefaultSimulatorRunsFp32()
    {
        Assert.False(gpu.Backend.AllowTf32);
        Assert.False(gpu.Backend.Tf32Capable);
        long before = gpu.Backend.Tf32Launches;
        var d = Tensor.Randn([4, 6], new Generator(3)).To(gpu.Device);
        d.MatMul(d.Transpose(0, 1)).To(Device.Cpu);
        Assert.Equal(before, gpu.Backend.Tf32Launches);
    }
}
