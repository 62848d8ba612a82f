using System.Text.RegularExpressions;
using Sparkle.Gpu;
using Sparkle.Models;
using Sparkle.Models.Spark;
using Sparkle.Nn.Optim;
using Sparkle.Tensors;
using Sparkle.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace Sparkle.Tests.Gpu;

/// <summary>
/// The optimizer kernels (Gpu/Kernels/OptimKernels.cs) against the CPU backend on the same data, through the optimizers
/// themselves: several steps, float32 and float64, every LAMB/AdamW/SGD branch, tensors of one and of several groups'
/// worth of elements. Per element the kernels do the CPU's operations in its order; the sums of squares accumulate in
/// float64 (the CPU: in T, blocked), so float64 agrees to ~1e-12 and float32 to ~1e-6. Also: a LAMB step reads nothing
/// back, allocates nothing parameter-sized on the device, and launches about two kernels per parameter.
/// </summary>
[Collection(IlgpuCollection.Name)]
public class GpuOptimTests(IlgpuFixture gpu, ITestOutputHelper output)
{
    // [70, 70] is two groups' worth for the grouped kernels (16 elements a thread, 256 threads), so partial slots are summed
    private static readonly int[][] Shapes = [[3, 4], [4], [2, 1, 3, 3], [70, 70], [5]];

    private static (double R, double A) Tol(DType d) => d == DType.Float64 ? (1e-12, 1e-14) : (2e-6, 1e-7);

    private (string, Tensor)[] Params(DType dtype, Device device, int seed) =>
        Shapes.Select((s, i) => ($"m{i}.{(s.Length == 1 ? "bias" : "weight")}",
            Tensor.Randn(s, new Generator((ulong)(seed + i))).To(dtype).To(device).RequireGrad())).ToArray();

    private Tensor[] Grads(DType dtype, Device device, int seed, double scale) =>
        Shapes.Select((s, i) => Tensor.Randn(s, new Generator((ulong)(1000 + seed * 17 + i))).Mul(scale).To(dtype).To(device)).ToArray();

    /// <summary>Runs <paramref name="make"/>'s optimizer for 3 steps on the CPU and on the device from the same values and
    /// compares parameters, gradients (LAMB clips them in place) and optimizer state after every step.</summary>
    private void Agree(DType dtype, Func<(string, Tensor)[], Optimizer> make, double gradScale, string what)
    {
        var (r, a) = Tol(dtype);
        var cpu = Params(dtype, Device.Cpu, 7);
        var dev = Params(dtype, gpu.Device, 7);
        var oc = make(cpu);
        var od = make(dev);
        for (int step = 0; step < 3; step++)
        {
            LrWdSchedule.Apply(oc, 0.02 / (step + 1), 0.05 * (step + 1));
            LrWdSchedule.Apply(od, 0.02 / (step + 1), 0.05 * (step + 1));
            var gc = Grads(dtype, Device.Cpu, step, gradScale);
            var gd = Grads(dtype, gpu.Device, step, gradScale);
            for (int i = 0; i < Shapes.Length; i++) { cpu[i].Item2.Grad = gc[i]; dev[i].Item2.Grad = gd[i]; }
            oc.Step();
            od.Step();
            if (oc is Lamb lc && od is Lamb ld)
            {
                Assert.Equal(lc.GlobalGradNorm is null, ld.GlobalGradNorm is null);
                if (lc.GlobalGradNorm is { } nc) Check.Close([nc.Item()], ld.GlobalGradNorm!.To(Device.Cpu), r, a, $"{what} norm step {step}");
            }
            for (int i = 0; i < Shapes.Length; i++)
            {
                string at = $"{what} {dtype.Name()} step {step} p{i}";
                Assert.Equal(gpu.Device, dev[i].Item2.Device);
                Check.Close(cpu[i].Item2.ToDoubleArray(), dev[i].Item2.To(Device.Cpu), r, a, at);
                Check.Close(gc[i].ToDoubleArray(), gd[i].To(Device.Cpu), r, a, at + " grad");
                Assert.Equal(oc.StateOf(cpu[i].Item2) is null, od.StateOf(dev[i].Item2) is null);
                foreach (var (name, buf) in oc.StateOf(cpu[i].Item2)?.Buffers ?? [])
                    Check.Close(buf.ToDoubleArray(), od.StateOf(dev[i].Item2)!.Buffers[name].To(Device.Cpu), r, a, $"{at} {name}");
            }
        }
    }

    public static TheoryData<DType, double?, bool, bool> LambCases()
    {
        var d = new TheoryData<DType, double?, bool, bool>();
        foreach (var dtype in new[] { DType.Float64, DType.Float32 })
            foreach (var (clip, trustClip, always) in new (double?, bool, bool)[] { (5.0, false, false), (null, false, false), (0.5, true, false), (1.0, false, true), (null, true, true) })
                d.Add(dtype, clip, trustClip, always);
        return d;
    }

    /// <summary>Two groups (decay with the schedule's wd ≠ 0, no_decay with wd 0), so every case covers both.</summary>
    [Theory]
    [MemberData(nameof(LambCases))]
    public void LambAgreesWithTheCpu(DType dtype, double? maxGradNorm, bool trustClip, bool alwaysAdapt) =>
        Agree(dtype, ps => new Lamb(ParamGroups.Split(ps), 0.01, 0.9, 0.95, maxGradNorm: maxGradNorm, trustClip: trustClip, alwaysAdapt: alwaysAdapt),
            gradScale: 2, $"lamb clip {maxGradNorm} trust clip {trustClip} always {alwaysAdapt}");

    [Theory]
    [InlineData(DType.Float64)]
    [InlineData(DType.Float32)]
    public void AdamWAgreesWithTheCpu(DType dtype) =>
        Agree(dtype, ps => new AdamW(ParamGroups.Split(ps), 0.01), gradScale: 1, "adamw");

    [Theory]
    [InlineData(DType.Float64, 0.9, 0.0, true)]
    [InlineData(DType.Float64, 0.8, 0.25, false)]
    [InlineData(DType.Float64, 0.0, 0.0, false)]
    [InlineData(DType.Float32, 0.9, 0.0, true)]
    [InlineData(DType.Float32, 0.8, 0.25, false)]
    public void SgdAgreesWithTheCpu(DType dtype, double momentum, double dampening, bool nesterov) =>
        Agree(dtype, ps => new Sgd(ParamGroups.Split(ps), 0.1, momentum, dampening, nesterov: nesterov), gradScale: 1, $"sgd {momentum} {dampening} {nesterov}");

    [Theory]
    [InlineData(DType.Float64)]
    [InlineData(DType.Float32)]
    public void SumOfSquaresAgreesWithTheCpu(DType dtype)
    {
        var (r, a) = Tol(dtype);
        var xs = Grads(dtype, Device.Cpu, 3, 1.5);
        var ds = xs.Select(x => x.To(gpu.Device)).ToArray();
        foreach (var rank in new[] { 0, 1 })
        {
            int[] shape = rank == 0 ? [] : [xs.Length];
            var c = Tensor.Empty(shape, dtype);
            var d = Tensor.Empty(shape, dtype, gpu.Device);
            c.Backend.SumOfSquares(xs, c);
            d.Backend.SumOfSquares(ds, d);
            Check.Close(c.ToDoubleArray(), d.To(Device.Cpu), r, a, $"sum of squares into rank {rank}");
        }
    }

    /// <summary>The kernel-launch count of one call, from the profile's summary line.</summary>
    private int Launches(Action body)
    {
        var profile = new KernelProfile();
        gpu.Backend.Profile = profile;
        try { body(); }
        finally { gpu.Backend.Profile = null; }
        var m = Regex.Match(profile.ToString(), @"in (\d+) launches");
        Assert.True(m.Success, profile.ToString());
        return int.Parse(m.Groups[1].Value);
    }

    /// <summary>A steady-state LAMB step with clipping and a trust ratio: no host read, no device block the size of a
    /// parameter (the update is recomputed, not kept), and 2 launches per parameter plus 3 for the norm (and 1 trust launch
    /// per group) beyond the norm's per-gradient partial sums.</summary>
    [Fact]
    public void ALambStepReadsNothingBackAndAllocatesNothingParameterSized()
    {
        var w = Tensor.Randn([64, 64], new Generator(3)).To(gpu.Device).RequireGrad();
        var opt = new Lamb([new ParamGroup(new[] { ("w", w) }, weightDecay: 0.05)], lr: 1e-3);
        w.Grad = Tensor.Randn([64, 64], new Generator(4)).To(gpu.Device);
        opt.Step();                                               // creates the state
        long reads = gpu.Backend.HostReads;
        var before = gpu.Backend.MemoryStats;
        gpu.Backend.ResetPeakMemory();
        int launches = Launches(opt.Step);
        var after = gpu.Backend.MemoryStats;
        Assert.Equal(reads, gpu.Backend.HostReads);
        long paramBytes = w.NumElements * sizeof(float);
        Assert.True(after.PeakInUse - before.InUse < paramBytes / 4,
            $"a LAMB step over a {paramBytes} B parameter raised the device peak by {after.PeakInUse - before.InUse} B");
        // norm: partial + finish + sqrt; the group: moments + trust + apply
        Assert.Equal(6, launches);
    }

    /// <summary>Launches of one LAMB step over a SparK ResNet-18's parameter list (names and ranks decide the groups; the
    /// sizes only decide how many thread groups each launch has, not how many launches, so small stand-ins serve).</summary>
    [Fact]
    public void ALambStepOverSparkResNet18LaunchesAboutTwoKernelsPerParameter()
    {
        var spark = new SparkModel(ResNet.ResNet18(new ModelOptions { Generator = new Generator(0), DropPath = 0 }), 32, generator: new Generator(1));
        var named = spark.NamedParameters().ToList();
        var ps = named.Select(n => (n.Name, Tensor.Zeros(n.Parameter.Shape.ToArray().Select(_ => 2).ToArray(), DType.Float32, gpu.Device).RequireGrad())).ToArray();
        var opt = new Lamb(ParamGroups.Split(ps), 1e-3, beta2: 0.95);
        LrWdSchedule.Apply(opt, 1e-3, 0.04);
        foreach (var (_, p) in ps) p.Grad = Tensor.OnesLike(p);
        opt.Step();
        int launches = Launches(opt.Step);
        int decay = opt.ParamGroups.Single(g => g.WeightDecay != 0).Parameters.Count;
        output.WriteLine($"SparK R18: {ps.Length} parameters ({decay} decayed, {named.Sum(n => (long)n.Parameter.NumElements):N0} elements): " +
                         $"{launches} launches per LAMB step");
        Assert.Equal(ps.Length + 2 + ps.Length + 1 + decay, launches);
    }
}
