using Sparkle.Tensors.Cpu;
using Xunit;

namespace Sparkle.Tests.Support;

/// <summary>Thread-count checks: run a computation with IntraOpPool.NumThreads set, restoring it after (tests that use
/// this belong in ThreadCountCollection, since the setting is process-wide).</summary>
public static class Threads
{
    public static T With<T>(int threads, Func<T> body)
    {
        int saved = IntraOpPool.NumThreads;
        IntraOpPool.NumThreads = threads;
        try { return body(); }
        finally { IntraOpPool.NumThreads = saved; }
    }

    /// <summary>The arrays <paramref name="run"/> returns are bit-identical on 1 and 2 threads.</summary>
    public static void AssertSameOnOneAndTwo(Func<float[][]> run)
    {
        var one = With(1, run);
        var two = With(2, run);
        Assert.Equal(one.Length, two.Length);
        for (int i = 0; i < one.Length; i++) Assert.True(one[i].AsSpan().SequenceEqual(two[i]), $"output {i} differs between 1 and 2 threads");
    }
}
