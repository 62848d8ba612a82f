using Sparkle.Models;
using Sparkle.Models.Spark;
using Sparkle.Models.Training;
using Sparkle.Tensors;
using Xunit;

namespace Sparkle.Tests.Models;

/// <summary>The pre-training loop: exact resume (same loss sequence as an uninterrupted run), NaN stop, schedule use.</summary>
public class PretrainerTests
{
    private static readonly PretrainOptions Tiny = new() { Epochs = 2, WarmupEpochs = 0.5, BatchSize = 4, BaseLr = 1e-3, Seed = 7 };

    private static SparkModel Model() => new(
        ResNet.ResNet18(new ModelOptions { Generator = new Generator(1), DropPath = 0.1 }, smallStem: true), 32, decoderWidth: 16,
        generator: new Generator(2));

    /// <summary>Batch i of the synthetic data set: a pure function of i, like a seeded loader.</summary>
    private static Tensor Batch(long i) => Tensor.Randn([4, 3, 32, 32], new Generator(100 + (ulong)i));

    [Fact]
    public void InterruptedAndResumedRunGivesTheSameLosses()
    {
        var reference = new Pretrainer(Model(), Tiny, itersPerEpoch: 3);
        var expected = Enumerable.Range(0, 6).Select(i => reference.Step(Batch(i))).ToArray();

        string path = Path.Combine(Path.GetTempPath(), $"sparkle-resume-{Guid.NewGuid():N}.safetensors");
        try
        {
            var first = new Pretrainer(Model(), Tiny, itersPerEpoch: 3);
            var losses = Enumerable.Range(0, 4).Select(i => first.Step(Batch(i))).ToList();
            first.SaveCheckpoint(path);

            var resumed = new Pretrainer(Model(), Tiny with { }, itersPerEpoch: 3);
            resumed.Resume(path);
            Assert.Equal(4, resumed.Iteration);
            Assert.Equal(1, resumed.Epoch);
            for (long i = resumed.Iteration; i < 6; i++) losses.Add(resumed.Step(Batch(i)));
            Assert.Equal(expected, losses);                    // bit for bit
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void ScheduleDrivesLearningRateAndWeightDecay()
    {
        var t = new Pretrainer(Model(), Tiny, itersPerEpoch: 3);
        t.Step(Batch(0));
        double peak = 1e-3 * 4 / 256;
        Assert.Equal(peak * 0.005, t.LastLr, 12);             // warm-up starts at 0.5 % of peak
        Assert.Equal(0.04, t.LastWd, 12);
        Assert.True(t.LastGradNorm > 0);
    }

    [Fact]
    public void ANonFiniteLossStopsTheRun()
    {
        var t = new Pretrainer(Model(), Tiny, itersPerEpoch: 3);
        var bad = Batch(0);
        bad.Set(float.NaN, 0, 0, 0, 0);
        var e = Assert.Throws<NonFiniteLossException>(() => t.Step(bad));
        Assert.Equal(0, e.Iteration);
        Assert.Contains("iteration 0", e.Message);
    }
}
