using System.Numerics;

namespace Sparkle.Tensors.Cpu.Norm;

/// <summary>BN's running-statistics update in place: running = (1 − m)·running + m·batch, with var·n/(n − 1) for the
/// variance. The same element operations, in the same order, as the composed runningMean.Mul_(1 − m).Add_(batch,
/// alpha: m) it replaces (scale, scale, add in T), so the buffers come out bit for bit as before.</summary>
internal static class RunningStats
{
    public static void Update<T>(Tensor? runningMean, Tensor? runningVar, ReadOnlySpan<double> mean, ReadOnlySpan<double> variance,
        double momentum, int count) where T : unmanaged, INumber<T>
    {
        if (runningMean is null || runningVar is null) return;
        Blend<T>(runningMean, mean, momentum, momentum);
        Blend<T>(runningVar, variance, momentum, momentum * count / (count - 1.0));
    }

    public static void Update<T>(Tensor? runningMean, Tensor? runningVar, ReadOnlySpan<T> mean, ReadOnlySpan<T> variance,
        double momentum, int count) where T : unmanaged, INumber<T>
    {
        if (runningMean is null || runningVar is null) return;
        Blend(runningMean, mean, momentum, momentum);
        Blend(runningVar, variance, momentum, momentum * count / (count - 1.0));
    }

    private static void Blend<T>(Tensor running, ReadOnlySpan<double> batch, double momentum, double alpha) where T : unmanaged, INumber<T>
    {
        var r = CpuBackend.Data<T>(running).AsSpan(running.Offset, batch.Length);
        T keep = T.CreateTruncating(1 - momentum), a = T.CreateTruncating(alpha);
        for (int k = 0; k < r.Length; k++) r[k] = r[k] * keep + T.CreateTruncating(batch[k]) * a;
    }

    private static void Blend<T>(Tensor running, ReadOnlySpan<T> batch, double momentum, double alpha) where T : unmanaged, INumber<T>
    {
        var r = CpuBackend.Data<T>(running).AsSpan(running.Offset, batch.Length);
        T keep = T.CreateTruncating(1 - momentum), a = T.CreateTruncating(alpha);
        for (int k = 0; k < r.Length; k++) r[k] = r[k] * keep + batch[k] * a;
    }
}
