using System.Text.Json;
using Sparkle.DistributedWorker;
using Xunit;
using Xunit.Abstractions;

namespace Sparkle.Tests.Distributed;

/// <summary>
/// The overlapped gradient all-reduce on 2 MPI ranks (issue 18: buckets started while the backward still runs): two
/// identical float32 SparK pre-trainers, one with the overlap and one reducing after the backward, give bit for bit the
/// same loss, gradients and parameters over 2 LAMB steps on every rank, and the overlapped one started its buckets
/// inside the backward (<see cref="OverlapScenario"/>).
/// </summary>
[Collection("Distributed")]
public class DistributedOverlapTests(ITestOutputHelper log)
{
    [Fact]
    public void OverlappedAllReduceGivesTheSynchronousGradientsBitForBitAndStartsInsideTheBackward()
    {
        string dir = Directory.CreateTempSubdirectory("sparkle-mpi-ovl-").FullName;
        var r = MpiLauncher.Run(2, MpiLauncher.Worker, ["overlap", dir], TimeSpan.FromSeconds(240));
        Assert.True(r.ExitCode == 0, r.Output);
        log.WriteLine($"2 ranks: {r.Seconds:F1} s");
        for (int rank = 0; rank < 2; rank++)
        {
            var result = JsonSerializer.Deserialize<OverlapScenario.Result>(File.ReadAllText(Path.Combine(dir, $"overlap-{rank}.json")))!;
            log.WriteLine($"rank {rank}: {result.Compared} tensors compared, {result.Buckets} buckets, {result.StartedInBackward} started in the backward at nodes [{string.Join(", ", result.StartNodes)}] of {result.BackwardNodes}; all-reduce {result.OverlapSeconds * 1e3:F1} ms, exposed {result.ExposedSeconds * 1e3:F1} ms; synchronous {result.SynchronousSeconds * 1e3:F1} ms");
            Assert.Equal(rank, result.Rank);
            Assert.True(result.Compared > 100, $"only {result.Compared} tensors compared");
            Assert.True(result.Mismatched.Count == 0, $"rank {rank}: not bitwise equal: {string.Join(", ", result.Mismatched.Take(10))}");
            // Several buckets, and every one started before the backward's last node had finished.
            Assert.True(result.Buckets >= 2, $"{result.Buckets} bucket(s): nothing to overlap");
            Assert.Equal(result.Buckets, result.StartedInBackward);
            Assert.Equal(result.Buckets, result.StartNodes.Count);
            Assert.True(result.StartNodes[0] < result.BackwardNodes / 2, $"the first bucket started after {result.StartNodes[0]} of {result.BackwardNodes} nodes");
            Assert.True(result.StartNodes[^1] < result.BackwardNodes);
            Assert.True(result.ExposedSeconds <= result.OverlapSeconds);
        }
        Directory.Delete(dir, true);
    }
}
