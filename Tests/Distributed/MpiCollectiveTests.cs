using System.Text.Json;
using Xunit;

namespace Sparkle.Tests.Distributed;

/// <summary>The MPI communicator on 2 ranks over loopback: every collective's values, and the bad launches (a rank
/// that dies, a rank that hangs, no MPI library) end quickly with a message instead of hanging.</summary>
[Collection("Distributed")]
public class MpiCollectiveTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);

    private static string TempDir() => Directory.CreateTempSubdirectory("sparkle-mpi-").FullName;

    [Fact]
    public void CollectivesGiveTheSameSumsMaximaAndBroadcastsOnEveryRank()
    {
        string dir = TempDir();
        var r = MpiLauncher.Run(2, MpiLauncher.Worker, ["collectives", dir], Limit);
        Assert.True(r.ExitCode == 0, r.Output);
        for (int rank = 0; rank < 2; rank++)
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, $"collectives-{rank}.json")));
            var j = doc.RootElement;
            Assert.Equal(rank, j.GetProperty("rank").GetInt32());
            Assert.Equal(2, j.GetProperty("size").GetInt32());
            Assert.Contains("MPICH", j.GetProperty("description").GetString());
            Assert.Equal([3f, 30f, -1f], j.GetProperty("f").EnumerateArray().Select(e => e.GetSingle()));
            Assert.Equal([0.5, 3e-300], j.GetProperty("d").EnumerateArray().Select(e => e.GetDouble()));
            Assert.Equal([long.MaxValue / 4, 1L], j.GetProperty("l").EnumerateArray().Select(e => e.GetInt64()));
            Assert.Equal([1.0, 0.0], j.GetProperty("max").EnumerateArray().Select(e => e.GetDouble()));
            Assert.Equal(7.5f, j.GetProperty("bf")[0].GetSingle());                 // broadcast from root 1
            Assert.Equal(Math.PI, j.GetProperty("bd")[0].GetDouble());
            Assert.Equal(-42, j.GetProperty("bl")[0].GetInt64());
            Assert.Equal([1f, 2f, 1f, 2f, 1f, 2f], j.GetProperty("tensor").EnumerateArray().Select(e => e.GetSingle()));
        }
        Directory.Delete(dir, true);
    }

    [Fact]
    public void ARankThatDiesEndsTheJobWithAMessage()
    {
        var r = MpiLauncher.Run(2, MpiLauncher.Worker, ["die", TempDir()], Limit);
        Assert.False(r.TimedOut, r.Output);
        // Hydra kills the waiting rank (SIGKILL) at once and exits with the dead rank's code: no hang, no watchdog needed.
        Assert.Equal(3, r.ExitCode);
        Assert.True(r.Seconds < 30, r.Output);
    }

    [Fact]
    public void ARankThatHangsIsAbortedByTheWatchdogAfterTheTimeout()
    {
        var r = MpiLauncher.Run(2, MpiLauncher.Worker, ["hang", TempDir()], Limit, new Dictionary<string, string> { ["SPARKLE_DIST_TIMEOUT"] = "3" });
        Assert.False(r.TimedOut, r.Output);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("MPI_Allreduce has waited", r.StdErr);
        Assert.Contains("rank 0/2", r.StdErr);
        Assert.True(r.Seconds < 30, r.Output);
    }

    [Fact]
    public void AMissingMpiLibraryIsAClearError()
    {
        var r = MpiLauncher.RunAlone(MpiLauncher.Worker, ["collectives", TempDir()], Limit,
            new Dictionary<string, string> { ["SPARKLE_MPI_LIBRARY"] = "libsparkle-no-such-mpi.so" });
        Assert.Equal(5, r.ExitCode);
        Assert.Contains("No MPI library found (tried libsparkle-no-such-mpi.so)", r.StdErr);
        Assert.Contains("apt-get install -y mpich", r.StdErr);
    }
}
