using System.Diagnostics;
using Sparkle.Models;
using Sparkle.Models.Spark;
using Sparkle.Models.Training;
using Sparkle.Tensors;
using Xunit;
using Xunit.Abstractions;

namespace Sparkle.Tests.Gpu;

/// <summary>Issue 20: the whole SparK training step — <see cref="Pretrainer.Step"/>: schedule, forward through the sparse
/// encoder (convolutions, fused BN+ReLU, max-pool, residuals), decoder, loss, backward, LAMB with its clip and trust ratios
/// — on ILGPU's CPU accelerator in CI, in float32 (the training dtype) and float64, (two steps in float64) from the same weights,
/// images and masks as the CPU backend: the losses, every parameter gradient, every parameter after each update and every
/// BN running statistic agree. <see cref="GpuSparkStepTests"/> covers forward and backward of the full ResNet-18 and
/// ConvNeXt-atto structures in float64; this adds the update, the second step (from updated weights and running
/// statistics) and float32.</summary>
[Collection(IlgpuCollection.Name)]
public class GpuTrainStepAgreementTests(IlgpuFixture gpu, ITestOutputHelper output)
{
    private const int Batch = 2, Size = 16;

    private static readonly PretrainOptions Options = new() { Epochs = 1, WarmupEpochs = 0, BatchSize = Batch, BaseLr = 0.5, Seed = 3 };

    /// <summary>ResNet-18's stem (7x7/2, max-pool 3x3/2) and one basic block per stage (stride-2 3x3 and 1x1 downsample
    /// shortcuts) at 1/8 width: every sparse kernel geometry the ResNets use, in about a second per step on the simulator.
    /// 64 px: a 2x2 mask grid.</summary>
    private static SparkModel Build(DType dtype)
    {
        var o = new ModelOptions { Generator = new Generator(11), DType = dtype };
        var enc = new ResNet(new ResNetConfig([1, 1, 1, 1], Bottleneck: false, SmallStem: true, BaseWidth: 8), o);
        return new SparkModel(enc, Size, decoderWidth: 32, dtype: dtype, generator: new Generator(12));
    }

    private sealed record State(double Loss, Dictionary<string, double[]> Grads, Dictionary<string, double[]> Params, Dictionary<string, double[]> Buffers);

    private static State Read(SparkModel m, double loss) => new(loss,
        m.NamedParameters().Where(p => p.Parameter.Grad is not null).ToDictionary(p => p.Name, p => p.Parameter.Grad!.To(Device.Cpu).ToDoubleArray()),
        m.NamedParameters().ToDictionary(p => p.Name, p => p.Parameter.To(Device.Cpu).ToDoubleArray()),
        m.NamedBuffers().Where(b => b.Name.Contains("running")).ToDictionary(b => b.Name, b => b.Buffer.To(Device.Cpu).ToDoubleArray()));

    /// <summary>Max |e − a| within tol · max |e| of each tensor (a floor for tensors that cancel to ~0); NaN fails.</summary>
    private static double Same(string what, Dictionary<string, double[]> expected, Dictionary<string, double[]> actual, double tol, double floor)
    {
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        double worst = 0;
        foreach (var (name, e) in expected)
        {
            var a = actual[name];
            Assert.Equal(e.Length, a.Length);
            double maxDiff = 0, maxRef = 0;
            for (int i = 0; i < e.Length; i++)
            {
                double d = Math.Abs(e[i] - a[i]);
                maxDiff = double.IsNaN(d) ? double.PositiveInfinity : Math.Max(maxDiff, d);
                maxRef = Math.Max(maxRef, Math.Abs(e[i]));
            }
            Assert.True(maxDiff <= tol * maxRef + floor, $"{what} {name}: differs by {maxDiff:E2} (largest {maxRef:E2}, allowed {tol * maxRef + floor:E2})");
            worst = Math.Max(worst, maxDiff / Math.Max(maxRef, floor / tol));
        }
        return worst;
    }

    [Theory]
    // float64: both backends run the same operations in different summation orders (~1e-15 each; seen: 7e-14 gradients,
    // 6e-13 parameters). float32: ~1e-7 per operation, grown through ~30 layers (seen: 2e-5 gradients, 6e-6 running
    // statistics); parameters up to 2e-4 where Adam's g/(|g| + eps) meets a gradient near eps. Two float64 steps (the second
    // from updated weights, moments and running statistics), one float32 step: a simulator step costs ~3-10 s of launches.
    [InlineData(DType.Float64, 1e-10, 1e-10, 1e-15, 2)]
    [InlineData(DType.Float32, 2e-4, 2e-3, 1e-7, 1)]
    public void TrainingStepsOnTheDeviceEqualTheCpu(DType dtype, double tol, double paramTol, double floor, int steps)
    {
        string dtypeName = dtype.Name();
        var cpuModel = Build(dtype);
        var devModel = Build(dtype);
        devModel.To(gpu.Device);
        var cpu = new Pretrainer(cpuModel, Options, itersPerEpoch: 4);
        var dev = new Pretrainer(devModel, Options, itersPerEpoch: 4);
        var maskRng = new Generator(13);
        var sw = Stopwatch.StartNew();
        for (int step = 0; step < steps; step++)
        {
            var images = Tensor.Randn([Batch, 3, Size, Size], new Generator(20 + (ulong)step)).To(dtype);
            var mask = cpuModel.SampleMask(Batch, maskRng);
            var m = mask.ToDoubleArray();
            Assert.True(m.Any(v => v != 0) && m.Any(v => v == 0), "the mask must have visible and masked patches");

            long t0 = sw.ElapsedMilliseconds;
            var expected = Read(cpuModel, cpu.Step(images, mask));
            long t1 = sw.ElapsedMilliseconds;
            var actual = Read(devModel, dev.Step(images.To(gpu.Device), mask));
            output.WriteLine($"step {step}: cpu {t1 - t0} ms, device {sw.ElapsedMilliseconds - t1} ms");

            Assert.True(Math.Abs(expected.Loss - actual.Loss) <= tol * Math.Abs(expected.Loss),
                $"step {step} loss {actual.Loss:R} on the device, {expected.Loss:R} on the cpu");
            double g = Same($"step {step} gradient", expected.Grads, actual.Grads, tol, floor);
            double p = Same($"step {step} parameter", expected.Params, actual.Params, paramTol, floor);
            double b = Same($"step {step} running statistic", expected.Buffers, actual.Buffers, tol, floor);
            Assert.True(expected.Grads.Count == expected.Params.Count, $"{expected.Params.Count - expected.Grads.Count} parameters without a gradient");
            Assert.True(expected.Buffers.Count >= 2 * 10, $"only {expected.Buffers.Count} running statistics");
            output.WriteLine($"{dtypeName} step {step}: loss {expected.Loss:R}, worst relative difference: gradients {g:E2}, parameters {p:E2}, running statistics {b:E2}");
        }
        output.WriteLine($"{dtypeName}: {steps} steps on both backends in {sw.ElapsedMilliseconds} ms");
    }
}
