using Sparkle.Autograd;
using Sparkle.Tensors;
using Sparkle.Tensors.Backend;

namespace Sparkle.Nn.Parallel;

/// <summary>
/// Synchronised batch norm (torch.nn.SyncBatchNorm, SPARK.md §1.4/§5.6): while a group is installed with
/// <see cref="Use"/>, every training-mode <see cref="Functional.BatchNorm"/> on this thread — the dense BNs, and the sparse
/// BNs, which run it on their gathered (n, C) active rows — takes its statistics over the whole group's batch:
/// per channel, the local Σx, Σx² and count are all-reduced (one float64 call of 2C+1 values), so a rank whose mask
/// leaves fewer visible sites weighs less, exactly as in one process with the global batch. The backward all-reduces
/// Σdy and Σdy·x̂ (2C values) for the input gradient; the weight and bias gradients stay local sums, which the
/// gradient all-reduce then averages (the DDP convention). Running statistics are updated from the global mean and the
/// global unbiased variance, so they are identical on every rank.
/// Every rank must run the same BNs in the same order (the same model and graph): each forward and each backward of
/// a synced BN is one collective call.
/// </summary>
public static class SyncBatchNorm
{
    [ThreadStatic] private static ICommunicator? _current;

    /// <summary>The group the BNs of this thread synchronise over, or null (local statistics).</summary>
    public static ICommunicator? Current => _current;

    /// <summary>Installs <paramref name="group"/> for this thread's training-mode BNs until the scope ends (null: none).
    /// The backward of a BN recorded inside the scope uses the group it was recorded with, wherever it runs.</summary>
    public static Scope Use(ICommunicator? group)
    {
        var previous = _current;
        _current = group;
        return new Scope(previous);
    }

    public readonly struct Scope(ICommunicator? previous) : IDisposable
    {
        public void Dispose() => _current = previous;
    }

    /// <summary>Training-mode batch norm over (N, C, ...) input with statistics over the group's batch.</summary>
    public static Tensor Train(Tensor input, Tensor? runningMean, Tensor? runningVar, Tensor? weight, Tensor? bias,
        double momentum, double eps, ICommunicator group)
    {
        int c = input.Size(1);
        var axes = Enumerable.Range(0, input.Rank).Where(d => d != 1).ToArray();
        var statShape = Enumerable.Repeat(1, input.Rank).ToArray();
        statShape[1] = c;
        var x = input.Detach();
        long localCount = x.NumElements / Math.Max(c, 1);

        // Σx, Σx² in float64 whatever the input's dtype: the global variance is Σx²/n − mean², which float32 sums would
        // lose to cancellation.
        var stats = new double[2 * c + 1];
        using (GradMode.NoGrad())
        {
            var x64 = x.To(DType.Float64);
            HostCopy(x64.Sum(axes), stats.AsSpan(0, c));
            HostCopy((x64 * x64).Sum(axes), stats.AsSpan(c, c));
        }
        stats[2 * c] = localCount;
        group.AllReduceSum(stats);
        double n = stats[2 * c];
        if (n <= 1)
            throw BatchNormShape.TooFewValues("SyncBatchNorm", input.Shape, $" ({(long)n} value(s) per channel over the group's batch)");
        var mean = new double[c];
        var invStd = new double[c];
        var unbiased = new double[c];
        for (int i = 0; i < c; i++)
        {
            mean[i] = stats[i] / n;
            double variance = Math.Max(stats[c + i] / n - mean[i] * mean[i], 0);
            invStd[i] = 1 / Math.Sqrt(variance + eps);
            unbiased[i] = variance * n / (n - 1);
        }

        Tensor xhat, y;
        using (GradMode.NoGrad())
        {
            if (runningMean is not null && runningVar is not null)
            {
                runningMean.Mul_(1 - momentum).Add_(Stat(mean, runningMean.DType, runningMean.Device, [c]), alpha: momentum);
                runningVar.Mul_(1 - momentum).Add_(Stat(unbiased, runningVar.DType, runningVar.Device, [c]), alpha: momentum);
            }
            xhat = (x - Stat(mean, x.DType, x.Device, statShape)) * Stat(invStd, x.DType, x.Device, statShape);
            y = xhat;
            if (weight is not null) y = y * weight.Detach().Reshape(statShape);
            if (bias is not null) y = y + bias.Detach().Reshape(statShape);
            if (ReferenceEquals(y, xhat)) y = xhat.Clone();   // the recorded output must be a tensor of its own
        }
        if (!Differentiable.NeedsGrad(input, weight, bias)) return y;

        var invStdT = Stat(invStd, x.DType, x.Device, statShape);
        var w = weight?.Detach();
        bool nx = input.RequiresGrad, nw = weight?.RequiresGrad == true, nb = bias?.RequiresGrad == true;
        return Differentiable.Record("SyncBatchNorm", y, [input, weight, bias], g =>
        {
            var local = new double[2 * c];
            var g64 = g.To(DType.Float64);
            var sumDy = g64.Sum(axes);
            var sumDyXhat = (g64 * xhat.To(DType.Float64)).Sum(axes);
            Tensor? gw = nw ? sumDyXhat.To(x.DType) : null;
            Tensor? gb = nb ? sumDy.To(x.DType) : null;
            if (!nx) return [null, gw, gb];
            HostCopy(sumDy, local.AsSpan(0, c));
            HostCopy(sumDyXhat, local.AsSpan(c, c));
            group.AllReduceSum(local);
            var meanDy = new double[c];
            var meanDyXhat = new double[c];
            for (int i = 0; i < c; i++) { meanDy[i] = local[i] / n; meanDyXhat[i] = local[c + i] / n; }
            var scale = w is null ? invStdT : w.Reshape(statShape) * invStdT;
            var dx = (g - Stat(meanDy, x.DType, x.Device, statShape) - xhat * Stat(meanDyXhat, x.DType, x.Device, statShape)) * scale;
            return [dx, gw, gb];
        }, xhat);
    }

    private static Tensor Stat(double[] values, DType dtype, Device device, int[] shape)
        => Tensor.FromArray(values, shape).To(dtype).To(device);

    /// <summary>A (C) float64 tensor's values into a host span (a device tensor is staged through host memory).</summary>
    private static void HostCopy(Tensor t, Span<double> destination)
    {
        var host = t.Device == Device.Cpu ? t.Contiguous() : t.To(Device.Cpu);
        if (host.TryGetHostSpan<double>(out var span)) span.CopyTo(destination);
        else host.ToArray<double>().CopyTo(destination);
    }
}
