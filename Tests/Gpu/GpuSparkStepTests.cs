using System.Diagnostics;
using Sparkle.Models;
using Sparkle.Models.Spark;
using Sparkle.Nn;
using Sparkle.Sparse;
using Sparkle.Tensors;
using Xunit;
using Xunit.Abstractions;

namespace Sparkle.Tests.Gpu;

/// <summary>Issue 15's check: a SparK training step (forward, loss, backward) of a small ResNet-18 and a ConvNeXt-atto
/// runs on the ILGPU CPU accelerator through the true sparse path (the device's sparse kernels behind the seam, not the
/// masked-dense fallback) and gives, in float64, the CPU backend's sparse kernels' loss, every parameter gradient and
/// every BN running statistic, and the masked-dense oracle's (the official algorithm) — 1e-10 relative to each tensor's
/// largest value. The simulator runs every kernel's C# code, so this is the kernels' correctness, not CUDA's (docs/gpu.md).</summary>
[Collection(IlgpuCollection.Name)]
public class GpuSparkStepTests(IlgpuFixture gpu, ITestOutputHelper output)
{
    private const double Tol = 1e-10;

    public static TheoryData<string> Models => new() { "resnet18", "convnext_atto" };

    private static SparkModel Build(string name)
    {
        var o = new ModelOptions { Generator = new Generator(1), DType = DType.Float64 };
        // ResNet-18's and ConvNeXt-atto's structure (blocks, kernels, strides, the 7x7/2 stem and max-pool, depthwise 7x7,
        // LayerNorms) at 1/8 of their widths: the simulator costs microseconds per thread, and the full widths' 11M / 3.7M
        // parameters alone would take minutes per step. 64 px gives a 2x2 mask grid (2 of 4 patches visible per image).
        IHierarchicalEncoder enc = name == "resnet18"
            ? new ResNet(new ResNetConfig([2, 2, 2, 2], Bottleneck: false, BaseWidth: 8), o)
            : new ConvNeXt([2, 2, 6, 2], [8, 16, 32, 64], o);
        return new SparkModel(enc, 64, decoderWidth: 32, dtype: DType.Float64, generator: new Generator(2));
    }

    private sealed record Step(double Loss, Dictionary<string, double[]> Grads, Dictionary<string, double[]> Buffers, long HostReads);

    private Step Run(SparkModel model, Tensor images, Tensor active, Device device, bool oracle)
    {
        long reads = gpu.Backend.HostReads;
        var sw = Stopwatch.StartNew();
        Tensor loss;
        using (oracle ? SparseMode.Oracle() : default(SparseMode.Scope?))
        {
            loss = model.Loss(images.To(device), active);
            loss.Backward();
        }
        long used = gpu.Backend.HostReads - reads;
        output.WriteLine($"{device}{(oracle ? " oracle" : "")}: step {sw.ElapsedMilliseconds} ms, {used} host reads");
        var grads = model.NamedParameters().Where(p => p.Parameter.Grad is not null)
            .ToDictionary(p => p.Name, p => p.Parameter.Grad!.ToDoubleArray());
        var buffers = model.NamedBuffers().Where(b => b.Name.Contains("running"))
            .ToDictionary(b => b.Name, b => b.Buffer.ToDoubleArray());
        return new Step(loss.Item(), grads, buffers, used);
    }

    private static void Same(string what, Dictionary<string, double[]> expected, Dictionary<string, double[]> actual)
    {
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        foreach (var (name, e) in expected)
        {
            var a = actual[name];
            double maxDiff = 0, maxRef = 1e-30;
            for (int i = 0; i < e.Length; i++)
            {
                maxDiff = Math.Max(maxDiff, Math.Abs(e[i] - a[i]));
                maxRef = Math.Max(maxRef, Math.Abs(e[i]));
            }
            // Relative to the tensor's largest value, with a float64-rounding floor for gradients that cancel to ~0
            // (a bias in front of a LayerNorm sums to 1e-11 from O(1) terms).
            Assert.True(maxDiff <= Tol * maxRef + 1e-15, $"{what} {name}: differs by {maxDiff:E2} (largest {maxRef:E2})");
        }
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void SparseStepOnTheDeviceEqualsTheCpuAndTheOracle(string name)
    {
        var cpu = Build(name);
        var oracle = Build(name);
        var dev = Build(name);
        dev.To(gpu.Device);
        var images = Tensor.Randn([2, 3, cpu.InputSize, cpu.InputSize], new Generator(3)).To(DType.Float64);
        var active = cpu.SampleMask(2, new Generator(4));
        Assert.True(active.ToDoubleArray().Any(v => v != 0) && active.ToDoubleArray().Any(v => v == 0), "the mask must have visible and masked patches");

        var onDevice = Run(dev, images, active, gpu.Device, oracle: false);
        var onCpu = Run(cpu, images, active, Device.Cpu, oracle: false);
        var official = Run(oracle, images, active, Device.Cpu, oracle: true);

        Assert.True(Math.Abs(onDevice.Loss - onCpu.Loss) <= Tol * Math.Abs(onCpu.Loss), $"loss {onDevice.Loss:R} on the device, {onCpu.Loss:R} on the cpu");
        Assert.True(Math.Abs(official.Loss - onCpu.Loss) <= Tol * Math.Abs(onCpu.Loss), $"loss {official.Loss:R} (oracle), {onCpu.Loss:R} (sparse)");
        Same("device vs cpu gradient", onCpu.Grads, onDevice.Grads);
        Same("oracle vs cpu gradient", onCpu.Grads, official.Grads);
        Same("device vs cpu running statistic", onCpu.Buffers, onDevice.Buffers);
        Same("oracle vs cpu running statistic", onCpu.Buffers, official.Buffers);
        Assert.True(onCpu.Grads.Count > 20, $"only {onCpu.Grads.Count} gradients");
    }
}
