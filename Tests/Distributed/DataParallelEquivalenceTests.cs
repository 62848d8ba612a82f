using Sparkle.DistributedWorker;
using Sparkle.Nn.Parallel;
using Sparkle.Nn.Serialization;
using Sparkle.Tensors;
using Xunit;
using Xunit.Abstractions;

namespace Sparkle.Tests.Distributed;

/// <summary>
/// The acceptance check of data-parallel SparK (issue 18): 2 ranks with per-rank batch B/2, SyncBN and the gradient
/// all-reduce give the same loss, every parameter gradient and every BN running statistic as one process with batch
/// B on the same images and masks, and the same parameters after 3 LAMB steps with the schedule
/// (<see cref="EquivalenceScenario"/>: float64 to 1e-10, float32 to 1e-5, relative to each tensor's largest value).
/// </summary>
[Collection("Distributed")]
public class DataParallelEquivalenceTests(ITestOutputHelper log)
{
    [Theory]
    [InlineData("float64", 1e-10)]
    [InlineData("float32", 1e-5)]
    public void TwoRanksWithSyncBnEqualOneProcessWithTheWholeBatch(string dtypeName, double tolerance)
    {
        var dtype = dtypeName == "float32" ? DType.Float32 : DType.Float64;
        string dir = Directory.CreateTempSubdirectory("sparkle-mpi-eq-").FullName;
        var r = MpiLauncher.Run(2, MpiLauncher.Worker, ["equivalence", dir, dtypeName], TimeSpan.FromSeconds(240));
        Assert.True(r.ExitCode == 0, r.Output);
        log.WriteLine($"2 ranks: {r.Seconds:F1} s");
        var distributed = SafeTensors.Load(Path.Combine(dir, $"equivalence-{dtypeName}.safetensors")).Tensors;
        Compare(EquivalenceScenario.Run(dtype, LocalCommunicator.Instance), distributed, tolerance);
        Directory.Delete(dir, true);
    }

    /// <summary>Fine-tuning (issue 18): 2 ranks × 4 images with SyncBN and the gradient average equal one process
    /// × 8 images (<see cref="FinetuneScenario"/>: loss at each step, every gradient and BN statistic after step 1,
    /// every parameter after 3 AdamW steps; float64 to 1e-10).</summary>
    [Fact]
    public void TwoRanksFinetuneEqualsOneProcessWithTheWholeBatch()
    {
        string dir = Directory.CreateTempSubdirectory("sparkle-mpi-ft-").FullName;
        var r = MpiLauncher.Run(2, MpiLauncher.Worker, ["finetune-equivalence", dir], TimeSpan.FromSeconds(240));
        Assert.True(r.ExitCode == 0, r.Output);
        log.WriteLine($"2 ranks: {r.Seconds:F1} s");
        var distributed = SafeTensors.Load(Path.Combine(dir, "finetune-equivalence.safetensors")).Tensors;
        Compare(FinetuneScenario.Run(DType.Float64, LocalCommunicator.Instance), distributed, 1e-10);
        Directory.Delete(dir, true);
    }

    private void Compare(Dictionary<string, Tensor> single, IReadOnlyDictionary<string, Tensor> distributed, double tolerance)
    {

        Assert.Equal(single.Keys.Order(), distributed.Keys.Order());
        Assert.Contains(single.Keys, k => k.StartsWith("buffer.", StringComparison.Ordinal) && k.Contains("running_var"));
        Assert.Contains(single.Keys, k => k.StartsWith("grad.", StringComparison.Ordinal));
        double worst = 0; string worstKey = "";
        foreach (var (key, expected) in single)
        {
            var e = expected.To(DType.Float64).ToArray<double>();
            var a = distributed[key].To(DType.Float64).ToArray<double>();
            Assert.Equal(e.Length, a.Length);
            double scale = Math.Max(e.Max(Math.Abs), 1e-30);
            if (key.StartsWith("grad.", StringComparison.Ordinal)) Assert.True(scale > 1e-12, $"{key}: the gradient is all zero, so comparing it proves nothing");
            for (int i = 0; i < e.Length; i++)
            {
                double err = Math.Abs(a[i] - e[i]) / scale;
                if (err > worst) (worst, worstKey) = (err, key);
                Assert.True(err <= tolerance, $"{key}[{i}]: 2 ranks {a[i]:R}, 1 process {e[i]:R} (relative error {err:E2} > {tolerance:E0})");
            }
        }
        log.WriteLine($"{single.Count} tensors compared; worst relative error {worst:E2} ({worstKey})");
    }
}
