using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using Sparkle.Nn.Parallel;
using static Sparkle.Distributed.MpichNative;

namespace Sparkle.Distributed;

/// <summary>
/// <see cref="ICommunicator"/> over MPI_COMM_WORLD (MPICH ABI, <see cref="MpichNative"/>). One per process: made by
/// <see cref="Initialize"/> (MPI_Init_thread), ended by <see cref="Dispose"/> (MPI_Finalize). Errors come back as return
/// codes (MPI_ERRORS_RETURN) and are thrown as <see cref="CommunicatorException"/> with MPI's own text.
/// A watchdog bounds every collective: one that has not returned after <see cref="Timeout"/> (a peer that hangs or
/// died without the launcher noticing) writes which call on which rank waited how long, then aborts the whole job —
/// a distributed run never hangs forever. mpiexec (Hydra) itself ends the job when a rank exits early or is killed.
/// Host buffers only: a GPU rank stages through host memory (TensorCollectives) until a NCCL communicator exists.
/// </summary>
public sealed class MpiCommunicator : ICommunicator
{
    /// <summary>SPARKLE_DIST_TIMEOUT (seconds) overrides the default collective timeout.</summary>
    public const string TimeoutVariable = "SPARKLE_DIST_TIMEOUT";
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(300);

    private static MpiCommunicator? _instance;
    private readonly Thread _watchdog;
    private readonly object _gate = new();
    private string? _call;
    private long _callStarted;
    private bool _disposed;

    private MpiCommunicator(string library, TimeSpan timeout)
    {
        Library = library;
        Timeout = timeout;
        Check(MPI_Comm_set_errhandler(CommWorld, ErrorsReturn), "MPI_Comm_set_errhandler");
        Check(MPI_Comm_rank(CommWorld, out int rank), "MPI_Comm_rank");
        Check(MPI_Comm_size(CommWorld, out int size), "MPI_Comm_size");
        Rank = rank;
        Size = size;
        var text = new byte[8192];
        Version = MPI_Get_library_version(text, out int n) == Success ? FirstLine(text, n) : "MPI (unknown version)";
        _watchdog = new Thread(Watch) { IsBackground = true, Name = "sparkle-mpi-watchdog" };
        _watchdog.Start();
        // Hydra ends the surviving ranks with SIGTERM when one exits early: say so, and where this rank was waiting.
        _terminate = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, c =>
        {
            string? call;
            lock (_gate) call = _call;
            Console.Error.WriteLine($"sparkle [rank {Rank}/{Size}]: ended by the launcher (SIGTERM){(call is null ? "" : $" while waiting in {call}")}: " +
                                    "another rank exited or failed; see its message above.");
            Console.Error.Flush();
        });
    }

    private readonly System.Runtime.InteropServices.PosixSignalRegistration _terminate;

    public int Rank { get; }
    public int Size { get; }
    public string Library { get; }
    public string Version { get; }
    public TimeSpan Timeout { get; }
    public string Description => $"{Version} ({Library}), {Size} rank{(Size == 1 ? "" : "s")}";

    /// <summary>Loads MPICH and initialises MPI (once per process). Throws <see cref="MpiUnavailableException"/> when no
    /// MPICH-ABI library is found or MPI_Init fails.</summary>
    public static MpiCommunicator Initialize(TimeSpan? timeout = null)
    {
        if (_instance is { _disposed: false } live) return live;
        string library = Load();
        if (MPI_Initialized(out int done) != Success || done == 0)
        {
            int rc = MPI_Init_thread(0, 0, ThreadMultiple, out _);
            if (rc != Success) throw new MpiUnavailableException($"MPI_Init_thread failed ({ErrorText(rc)}); library {library}.");
        }
        return _instance = new MpiCommunicator(library, timeout ?? TimeoutFromEnvironment());
    }

    public static TimeSpan TimeoutFromEnvironment()
    {
        var s = Environment.GetEnvironmentVariable(TimeoutVariable);
        if (string.IsNullOrEmpty(s)) return DefaultTimeout;
        if (!double.TryParse(s, System.Globalization.CultureInfo.InvariantCulture, out double v) || v <= 0)
            throw new ArgumentException($"{TimeoutVariable}='{s}' is not a positive number of seconds.");
        return TimeSpan.FromSeconds(v);
    }

    public void Broadcast(Span<float> buffer, int root = 0) => Bcast(MemoryMarshal.AsBytes(buffer), buffer.Length, MpiFloat, root);
    public void Broadcast(Span<double> buffer, int root = 0) => Bcast(MemoryMarshal.AsBytes(buffer), buffer.Length, MpiDouble, root);
    public void Broadcast(Span<long> buffer, int root = 0) => Bcast(MemoryMarshal.AsBytes(buffer), buffer.Length, MpiInt64, root);
    public void AllReduceSum(Span<float> buffer) => Reduce(MemoryMarshal.AsBytes(buffer), buffer.Length, MpiFloat, OpSum);
    public void AllReduceSum(Span<double> buffer) => Reduce(MemoryMarshal.AsBytes(buffer), buffer.Length, MpiDouble, OpSum);
    public void AllReduceSum(Span<long> buffer) => Reduce(MemoryMarshal.AsBytes(buffer), buffer.Length, MpiInt64, OpSum);
    public void AllReduceMax(Span<double> buffer) => Reduce(MemoryMarshal.AsBytes(buffer), buffer.Length, MpiDouble, OpMax);

    public ICollectiveRequest StartAllReduceSum(PinnedBuffer<float> buffer, int count) => StartReduce(buffer, count, MpiFloat);
    public ICollectiveRequest StartAllReduceSum(PinnedBuffer<double> buffer, int count) => StartReduce(buffer, count, MpiDouble);

    public void Barrier()
    {
        Enter("MPI_Barrier");
        try { Check(MPI_Barrier(CommWorld), "MPI_Barrier"); }
        finally { Leave(); }
    }

    public void Abort(int exitCode, string message)
    {
        Console.Error.WriteLine($"sparkle [rank {Rank}/{Size}]: {message}");
        Console.Error.Flush();
        // MPICH's launcher forwards a rank's stderr through its proxy; MPI_Abort tears the job down at once and the line
        // just written was sometimes lost (exit 1, empty stderr, in ~1 of 3 runs of the rank-count resume test): give the
        // forwarder a moment. Only the failure path pays it.
        Thread.Sleep(300);
        MPI_Abort(CommWorld, exitCode);
        Environment.Exit(exitCode);      // MPI_Abort does not return; if it did, do not hang either
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _terminate.Dispose();
        if (MPI_Finalized(out int f) == Success && f == 0) MPI_Finalize();
    }

    private void Bcast(Span<byte> bytes, int count, int type, int root)
    {
        if ((uint)root >= (uint)Size) throw new ArgumentOutOfRangeException(nameof(root), $"Broadcast root {root} outside a group of {Size}.");
        if (count == 0) return;
        Enter("MPI_Bcast");
        try { Check(MPI_Bcast(ref MemoryMarshal.GetReference(bytes), count, type, root, CommWorld), "MPI_Bcast"); }
        finally { Leave(); }
    }

    private void Reduce(Span<byte> bytes, int count, int type, int op)
    {
        if (count == 0) return;
        Enter("MPI_Allreduce");
        try { Check(MPI_Allreduce(InPlace, ref MemoryMarshal.GetReference(bytes), count, type, op, CommWorld), "MPI_Allreduce"); }
        finally { Leave(); }
    }

    private MpiRequest StartReduce<T>(PinnedBuffer<T> buffer, int count, int type) where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(buffer);
        ObjectDisposedException.ThrowIf(_disposed, this);
        if ((uint)count > (uint)buffer.Length)
            throw new ArgumentOutOfRangeException(nameof(count), $"{count} elements of a pinned buffer of {buffer.Length}.");
        int request = RequestNull;
        if (count > 0) Check(MPI_Iallreduce(InPlace, buffer.Address, count, type, OpSum, CommWorld, out request), "MPI_Iallreduce");
        return new MpiRequest(this, request, buffer);
    }

    /// <summary>An MPI_Iallreduce in flight. Holds its buffer until it completes, so the pinned array outlives MPI's use
    /// of it even if the caller drops it. Wait is guarded by the watchdog like a blocking call.</summary>
    private sealed class MpiRequest(MpiCommunicator owner, int handle, object buffer) : ICollectiveRequest
    {
        private int _handle = handle;
        private object? _buffer = buffer;

        public bool IsCompleted => _handle == RequestNull;

        public bool Test()
        {
            if (IsCompleted) return true;
            owner.Check(MPI_Test(ref _handle, out int done, StatusIgnore), "MPI_Test (MPI_Iallreduce)");
            if (done == 0) return false;
            Complete();
            return true;
        }

        public void Wait()
        {
            if (IsCompleted) return;
            owner.Enter("MPI_Wait (MPI_Iallreduce)");
            try { owner.Check(MPI_Wait(ref _handle, StatusIgnore), "MPI_Wait (MPI_Iallreduce)"); }
            finally { owner.Leave(); }
            Complete();
        }

        private void Complete()
        {
            _handle = RequestNull;      // MPI sets it too; a request that completed is never passed to MPI again
            GC.KeepAlive(_buffer);
            _buffer = null;
        }
    }

    private void Enter(string call)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        lock (_gate) { _call = call; _callStarted = Stopwatch.GetTimestamp(); }
    }

    private void Leave()
    {
        lock (_gate) _call = null;
    }

    private void Watch()
    {
        while (!_disposed)
        {
            Thread.Sleep(250);
            string? call; long started;
            lock (_gate) (call, started) = (_call, _callStarted);
            if (call is null) continue;
            var waited = Stopwatch.GetElapsedTime(started);
            if (waited < Timeout) continue;
            Abort(124, $"{call} has waited {waited.TotalSeconds:F0} s for the other ranks (timeout {Timeout.TotalSeconds:F0} s, {TimeoutVariable}): " +
                       "a rank died, hangs or runs a different program. Aborting the job.");
        }
    }

    private void Check(int rc, string call)
    {
        if (rc != Success)
            throw new CommunicatorException($"{call} failed on rank {Rank}/{Size}: {ErrorText(rc)}.");
    }

    private static string ErrorText(int rc)
    {
        var text = new byte[512];
        return MPI_Error_string(rc, text, out int n) == Success ? Encoding.ASCII.GetString(text, 0, Math.Clamp(n, 0, text.Length)).Trim() : $"MPI error {rc}";
    }

    private static string FirstLine(byte[] text, int n)
    {
        var s = Encoding.ASCII.GetString(text, 0, Math.Clamp(n, 0, text.Length)).TrimEnd('\0').Replace("Version:\t", "", StringComparison.Ordinal);
        int nl = s.IndexOf('\n');
        return (nl >= 0 ? s[..nl] : s).Trim();
    }
}
