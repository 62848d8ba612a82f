using Sparkle.Models.Training;
using Sparkle.Tensors;
using Sparkle.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace Sparkle.Tests.Gpu;

/// <summary>The one training step (Pretrainer.Step) on ILGPU's CPU simulator: it gives the CPU backend's losses, reads
/// the device once per step (the loss; the gradient norm only when a log asks), and its counters move as documented.</summary>
[Collection(IlgpuCollection.Name)]
public class GpuPretrainStepTests(IlgpuFixture gpu, ITestOutputHelper output)
{
    private static readonly PretrainOptions Options = new() { Epochs = 1, WarmupEpochs = 0, BatchSize = 2, BaseLr = 1e-2, Seed = 5 };

    [Fact]
    public void StepReadsOnlyTheLossAndMatchesTheCpu()
    {
        var images = Tensor.Randn([2, 3, 8, 8], new Generator(9));
        var cpu = new Pretrainer(TinyEncoder.Spark(), Options, itersPerEpoch: 4);
        var devModel = TinyEncoder.Spark();
        devModel.To(gpu.Device);
        var dev = new Pretrainer(devModel, Options, itersPerEpoch: 4);
        var imagesDev = images.To(gpu.Device);

        Assert.Equal(cpu.Step(images), dev.Step(imagesDev), 1e-4);        // warm-up: kernels compile, the pool fills
        var before = gpu.Backend.Counters;
        double[] expected = [cpu.Step(images), cpu.Step(images)];
        double[] actual = [dev.Step(imagesDev), dev.Step(imagesDev)];
        var after = gpu.Backend.Counters;
        var perStep = after.PerStepSince(before, 2);
        output.WriteLine(perStep.ToString());

        for (int i = 0; i < 2; i++) Assert.Equal(expected[i], actual[i], 1e-4);   // same schedule, masks and update as the CPU
        Assert.Equal(2, after.HostReads - before.HostReads);               // one read per step: the loss
        Assert.True(perStep.LaunchesPerStep > 0, perStep.ToString());
        Assert.Equal(cpu.LastGradNorm, dev.LastGradNorm, 1e-3);            // the norm, read now because it was asked for
        Assert.Equal(after.HostReads + 1, gpu.Backend.Counters.HostReads);
        double again = dev.LastGradNorm;                                   // ... and only once
        Assert.Equal(after.HostReads + 1, gpu.Backend.Counters.HostReads);
        Assert.True(again > 0);

        // Steady state from the third step on (the first creates the optimizer state, the second is the first to
        // accumulate into the kept gradients): not one block from the driver.
        var third = gpu.Backend.Counters;
        dev.Step(imagesDev);
        Assert.Equal(0, gpu.Backend.Counters.PerStepSince(third, 1).DeviceAllocsPerStep);
    }
}
