using Sparkle.Tensors.Cpu;

namespace Sparkle.Tensors;

/// <summary>
/// How many threads the CPU backend's kernels use (torch.set_num_threads): the public face of its one intra-op pool,
/// so that applications set it without naming the backend. The default is SPARKLE_NUM_THREADS, else all cores.
/// Results do not depend on it (DESIGN.md §2.8).
/// </summary>
public static class CpuThreads
{
    /// <summary>Threads used by one parallel kernel, the caller included; at least 1, settable between ops.</summary>
    public static int Count
    {
        get => IntraOpPool.NumThreads;
        set => IntraOpPool.NumThreads = value;
    }
}
