using System.Runtime.InteropServices;

namespace Sparkle.Nn.Parallel;

/// <summary>A nonblocking collective in flight (<see cref="ICommunicator.StartAllReduceSum(PinnedBuffer{float}, int)"/>).
/// MPI advances such a collective only inside MPI calls (MPICH runs no progress thread by default), so a caller that
/// wants it to move while it computes calls <see cref="Test"/> now and then.</summary>
public interface ICollectiveRequest
{
    /// <summary>True once the result is in the buffer.</summary>
    bool IsCompleted { get; }

    /// <summary>Progresses the collective without blocking; true once it has completed.</summary>
    bool Test();

    /// <summary>Blocks until the collective has completed (bounded like the blocking calls: a peer that never joins
    /// ends the job after the communicator's timeout).</summary>
    void Wait();
}

/// <summary>
/// A host buffer that stays at one address for its whole life (allocated on the pinned object heap), as a nonblocking
/// collective needs: the library reads and writes it after the starting call returned, so a span of movable memory
/// (which the GC may relocate) cannot be handed over. Owned by whoever starts collectives on it, and reused.
/// </summary>
public sealed class PinnedBuffer<T> where T : unmanaged
{
    public PinnedBuffer(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(length);
        Array = GC.AllocateArray<T>(length, pinned: true);
    }

    /// <summary>The pinned array itself (pinned: true, so <see cref="Address"/> stays valid).</summary>
    public T[] Array { get; }

    public int Length => Array.Length;

    public Span<T> Span => Array;

    /// <summary>The address of element 0, for a native call that keeps it past its return.</summary>
    public nint Address => Marshal.UnsafeAddrOfPinnedArrayElement(Array, 0);
}

/// <summary>The request of a collective that completed when it started (a group of one process).</summary>
internal sealed class CompletedRequest : ICollectiveRequest
{
    public static readonly CompletedRequest Instance = new();

    public bool IsCompleted => true;
    public bool Test() => true;
    public void Wait() { }

    public static ICollectiveRequest Check<T>(PinnedBuffer<T> buffer, int count) where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(buffer);
        if ((uint)count > (uint)buffer.Length)
            throw new ArgumentOutOfRangeException(nameof(count), $"{count} elements of a pinned buffer of {buffer.Length}.");
        return Instance;
    }
}
