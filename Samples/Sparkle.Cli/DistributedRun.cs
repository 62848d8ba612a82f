using Sparkle.Distributed;
using Sparkle.Nn.Parallel;
using Sparkle.Nn.Serialization;

namespace Sparkle.Cli;

/// <summary>
/// How a command runs as one rank of `mpiexec -n N sparkle ... --distributed` (docs/distributed.md): MPI is loaded only
/// here, only when asked; every rank runs the same command on its part of the global batch and rank 0 alone writes.
/// Failures: a bad launch every rank sees alike (a batch not divisible by N, a --resume checkpoint of another N) is
/// said once, by rank 0, and every rank ends normally (exit 2, no MPI_Abort); anything else on one rank is printed with
/// its rank and aborts the job (MPI_Abort), since its peers would otherwise wait for it in the next collective.
/// </summary>
internal static class DistributedRun
{
    public static ICommunicator Open(bool distributed, string command)
    {
        if (!distributed) return LocalCommunicator.Instance;
        try { return MpiCommunicator.Initialize(); }
        catch (MpiUnavailableException e) { throw new UsageException($"{command} --distributed: {e.Message}"); }
    }

    /// <summary>--threads unless given: the machine's cores shared by the ranks on it (MPICH sets MPI_LOCALNRANKS).</summary>
    public static int Threads(ModelArgs o, bool threadsGiven, ICommunicator group)
    {
        if (threadsGiven || group.Size == 1) return o.Threads;
        int local = int.TryParse(Environment.GetEnvironmentVariable("MPI_LOCALNRANKS"), out int n) && n > 0 ? n : group.Size;
        return Math.Max(1, Environment.ProcessorCount / local);
    }

    /// <summary>The launch checks every rank makes alike, before any collective: null when fine, else the message.</summary>
    public static string? CheckBatch(string command, int globalBatch, ICommunicator group) => globalBatch % group.Size == 0 ? null
        : $"{command}: --batch-size {globalBatch} (the global batch) is not divisible by the {group.Size} ranks; use a multiple of {group.Size}.";

    /// <summary>The launch check of --resume: a checkpoint written by another number of ranks. Every rank reads the
    /// same header (each rank loads the whole file later anyway), so all of them decide alike without a collective.
    /// A file that is missing or unreadable passes here: the command's own file checks say what is wrong with it.</summary>
    public static string? CheckResume(string command, string? resume, ICommunicator group)
    {
        if (resume is null || !File.Exists(resume)) return null;
        IReadOnlyDictionary<string, string> meta;
        try { meta = SafeTensors.ReadHeader(resume).Metadata; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
        return DataParallel.SavedWorldSize(meta) is int saved && DataParallel.ResumedWorldSizeError(saved, group.Size, resume) is { } error
            ? $"{command}: --resume {error} Resume it on {saved} rank(s)" + (saved == 1 ? ", without --distributed." : $" (mpiexec -n {saved}).")
            : null;
    }

    /// <summary>A command's distributed launch, the same for every command: opens the group (MPI only when
    /// <paramref name="distributed"/>), makes the launch checks (rank 0 says a bad one and every rank ends with
    /// <paramref name="failed"/>, exit 2), then runs <paramref name="body"/> under <see cref="Guard"/>.</summary>
    /// <param name="resume">The checkpoint the run resumes from, if any (<see cref="CheckResume"/>).</param>
    public static T Launch<T>(bool distributed, string command, int globalBatch, Func<ICommunicator, T> body, Func<T> failed, string? resume = null)
    {
        var group = Open(distributed, command);
        if ((CheckBatch(command, globalBatch, group) ?? CheckResume(command, resume, group)) is { } bad)
        {
            group.Dispose();                                      // every rank is here: end together, rank 0 says why
            if (group.Rank == 0) throw new UsageException(bad);
            return failed();
        }
        return Guard(group, command, () => body(group));
    }

    /// <summary>Runs <paramref name="body"/> as this rank; see the class summary for what failures do.</summary>
    public static T Guard<T>(ICommunicator group, string command, Func<T> body)
    {
        if (group.Size == 1) return body();
        T result;
        try { result = body(); }
        catch (Exception e)
        {
            var (code, message) = ErrorReport.Describe(e, command);
            group.Abort(code, message);
            throw;                                               // not reached: Abort ends the process
        }
        group.Dispose();                                         // MPI_Finalize: every rank got here
        return result;
    }
}
