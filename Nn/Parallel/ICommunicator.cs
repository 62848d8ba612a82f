namespace Sparkle.Nn.Parallel;

/// <summary>
/// The collectives data-parallel training needs, over host buffers: every rank of the group must make the same calls in
/// the same order with the same lengths (the MPI rule). The interface lives here, low in the stack, so that training
/// code (SyncBN, gradient averaging, the trainers) can use it; the implementations live above (Sparkle.Distributed: MPI;
/// a NCCL one for device buffers can follow behind the same calls). <see cref="LocalCommunicator"/> is the one-process
/// group. Errors (a dead rank, a failed call) surface as <see cref="CommunicatorException"/>.
/// </summary>
public interface ICommunicator : IDisposable
{
    /// <summary>This process's index in the group, 0 ≤ Rank &lt; Size.</summary>
    int Rank { get; }

    /// <summary>The number of processes in the group (the world size).</summary>
    int Size { get; }

    /// <summary>What the group runs on, for logs (e.g. "MPICH 4.0.2, 2 ranks").</summary>
    string Description { get; }

    void Broadcast(Span<float> buffer, int root = 0);
    void Broadcast(Span<double> buffer, int root = 0);
    void Broadcast(Span<long> buffer, int root = 0);

    /// <summary>In place: every rank ends with the element-wise sum over all ranks (bitwise the same on every rank).</summary>
    void AllReduceSum(Span<float> buffer);
    void AllReduceSum(Span<double> buffer);
    void AllReduceSum(Span<long> buffer);

    /// <summary>In place: the element-wise maximum over all ranks.</summary>
    void AllReduceMax(Span<double> buffer);

    /// <summary>Starts the in-place sum of <c>buffer[0, count)</c> over all ranks and returns at once (MPI_Iallreduce).
    /// The buffer is pinned (the library writes it in the background) and must not be touched until the request has
    /// completed; its sum is the one <see cref="AllReduceSum(Span{float})"/> would give. Nonblocking and blocking
    /// collectives share one order: every rank must start them, and make its blocking calls, in the same sequence.</summary>
    ICollectiveRequest StartAllReduceSum(PinnedBuffer<float> buffer, int count);
    ICollectiveRequest StartAllReduceSum(PinnedBuffer<double> buffer, int count);

    void Barrier();

    /// <summary>Ends every rank of the group (after <paramref name="message"/> was written by the caller); does not return.</summary>
    void Abort(int exitCode, string message);
}

/// <summary>A collective failed: names the call, the rank and what the library said.</summary>
public sealed class CommunicatorException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>The group of one process: collectives are identities. Training with it is single-process training.</summary>
public sealed class LocalCommunicator : ICommunicator
{
    public static readonly LocalCommunicator Instance = new();

    public int Rank => 0;
    public int Size => 1;
    public string Description => "single process";
    public void Broadcast(Span<float> buffer, int root = 0) => CheckRoot(root);
    public void Broadcast(Span<double> buffer, int root = 0) => CheckRoot(root);
    public void Broadcast(Span<long> buffer, int root = 0) => CheckRoot(root);
    public void AllReduceSum(Span<float> buffer) { }
    public void AllReduceSum(Span<double> buffer) { }
    public void AllReduceSum(Span<long> buffer) { }
    public void AllReduceMax(Span<double> buffer) { }
    public ICollectiveRequest StartAllReduceSum(PinnedBuffer<float> buffer, int count) => CompletedRequest.Check(buffer, count);
    public ICollectiveRequest StartAllReduceSum(PinnedBuffer<double> buffer, int count) => CompletedRequest.Check(buffer, count);
    public void Barrier() { }
    public void Abort(int exitCode, string message) => Environment.Exit(exitCode);
    public void Dispose() { }

    private static void CheckRoot(int root)
    {
        if (root != 0) throw new ArgumentOutOfRangeException(nameof(root), $"Broadcast root {root} outside a group of 1.");
    }
}
