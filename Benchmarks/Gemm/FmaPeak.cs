using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Sparkle.Tensors.Cpu;

namespace Sparkle.Benchmarks.Gemm;

/// <summary>
/// The machine's FMA peak, measured with a register-only loop: 12 independent accumulator chains (more
/// than latency x pipes = 4 x 2 on Zen), no memory traffic. GEMM efficiency is quoted against this.
/// </summary>
public static class FmaPeak
{
    /// <summary>Peak float32 GFLOP/s with Vector256 (or Vector512) FMAs on <paramref name="threads"/> threads
    /// (each runs the loop; wall time of the slowest). Median of <paramref name="reps"/> runs.</summary>
    public static double Measure(bool wide512, int threads, int reps = 7)
    {
        const long iterations = 20_000_000;
        double flopsPerThread = iterations * 12.0 * 2 * (wide512 ? 16 : 8);
        var samples = new double[reps];
        int saved = IntraOpPool.NumThreads;
        IntraOpPool.NumThreads = threads;
        try
        {
            Run(wide512, threads, iterations / 20); // warm-up / JIT
            for (int r = 0; r < reps; r++)
            {
                long t0 = Stopwatch.GetTimestamp();
                Run(wide512, threads, iterations);
                samples[r] = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            }
        }
        finally { IntraOpPool.NumThreads = saved; }
        Array.Sort(samples);
        return flopsPerThread * threads / samples[reps / 2] / 1e9;
    }

    private static void Run(bool wide512, int threads, long iterations)
    {
        float sink = 0;
        IntraOpPool.For(threads, _ =>
        {
            float s = wide512 ? Loop512(iterations) : Loop256(iterations);
            Volatile.Write(ref sink, s);
        });
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float Loop256(long n)
    {
        var x = Vector256.Create(0.999999f);
        var y = Vector256.Create(1e-6f);
        Vector256<float> a0 = Vector256.Create(1f), a1 = a0 + y, a2 = a1 + y, a3 = a2 + y, a4 = a3 + y, a5 = a4 + y;
        Vector256<float> a6 = a5 + y, a7 = a6 + y, a8 = a7 + y, a9 = a8 + y, a10 = a9 + y, a11 = a10 + y;
        for (long i = 0; i < n; i++)
        {
            a0 = Vector256.FusedMultiplyAdd(a0, x, y); a1 = Vector256.FusedMultiplyAdd(a1, x, y);
            a2 = Vector256.FusedMultiplyAdd(a2, x, y); a3 = Vector256.FusedMultiplyAdd(a3, x, y);
            a4 = Vector256.FusedMultiplyAdd(a4, x, y); a5 = Vector256.FusedMultiplyAdd(a5, x, y);
            a6 = Vector256.FusedMultiplyAdd(a6, x, y); a7 = Vector256.FusedMultiplyAdd(a7, x, y);
            a8 = Vector256.FusedMultiplyAdd(a8, x, y); a9 = Vector256.FusedMultiplyAdd(a9, x, y);
            a10 = Vector256.FusedMultiplyAdd(a10, x, y); a11 = Vector256.FusedMultiplyAdd(a11, x, y);
        }
        return Vector256.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float Loop512(long n)
    {
        var x = Vector512.Create(0.999999f);
        var y = Vector512.Create(1e-6f);
        Vector512<float> a0 = Vector512.Create(1f), a1 = a0 + y, a2 = a1 + y, a3 = a2 + y, a4 = a3 + y, a5 = a4 + y;
        Vector512<float> a6 = a5 + y, a7 = a6 + y, a8 = a7 + y, a9 = a8 + y, a10 = a9 + y, a11 = a10 + y;
        for (long i = 0; i < n; i++)
        {
            a0 = Vector512.FusedMultiplyAdd(a0, x, y); a1 = Vector512.FusedMultiplyAdd(a1, x, y);
            a2 = Vector512.FusedMultiplyAdd(a2, x, y); a3 = Vector512.FusedMultiplyAdd(a3, x, y);
            a4 = Vector512.FusedMultiplyAdd(a4, x, y); a5 = Vector512.FusedMultiplyAdd(a5, x, y);
            a6 = Vector512.FusedMultiplyAdd(a6, x, y); a7 = Vector512.FusedMultiplyAdd(a7, x, y);
            a8 = Vector512.FusedMultiplyAdd(a8, x, y); a9 = Vector512.FusedMultiplyAdd(a9, x, y);
            a10 = Vector512.FusedMultiplyAdd(a10, x, y); a11 = Vector512.FusedMultiplyAdd(a11, x, y);
        }
        return Vector512.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11);
    }
}
