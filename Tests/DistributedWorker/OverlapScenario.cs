using System.Globalization;
using Sparkle.Autograd;
using Sparkle.Models;
using Sparkle.Models.Training;
using Sparkle.Nn.Parallel;
using Sparkle.Tensors;

namespace Sparkle.DistributedWorker;

/// <summary>
/// The overlapped gradient all-reduce on real ranks. <see cref="Run"/>: two identical SparK pre-trainers (the
/// equivalence scenario's model, float32), one starting its buckets during the backward and one reducing after it,
/// step on the same rank-local batches; their gradients and parameters must agree bit for bit, and the overlapped one
/// must have started its buckets inside the backward. <see cref="Time"/>: the docs' measurement.
/// </summary>
public static class OverlapScenario
{
    public sealed record Result(int Rank, int Compared, List<string> Mismatched, int Buckets, int StartedInBackward,
        List<int> StartNodes, int BackwardNodes, int Calls, double OverlapSeconds, double ExposedSeconds, double SynchronousSeconds);

    public static Result Run(ICommunicator group)
    {
        const int steps = 2;
        var dtype = DType.Float32;
        // 64 KiB buckets: the 1/8-width model's 0.9 MB of gradients make a dozen, so there is an order to keep.
        var options = EquivalenceScenario.Options with { AllReduceBucketBytes = 64 << 10 };
        var overlapped = new Pretrainer(EquivalenceScenario.Model(dtype), options, itersPerEpoch: 2, group) { Pool = null };
        var synchronous = new Pretrainer(EquivalenceScenario.Model(dtype), options, itersPerEpoch: 2, group) { Pool = null, OverlapAllReduce = false };
        if (!overlapped.OverlapAllReduce) throw new InvalidOperationException("the trainer's all-reduce overlap must be on by default");
        int local = EquivalenceScenario.GlobalBatch / group.Size, first = group.Rank * local;
        var mismatched = new List<string>();
        int compared = 0;
        for (int step = 0; step < steps; step++)
        {
            var (images, mask) = EquivalenceScenario.Batch(step, dtype, overlapped.Model);
            images = images.Slice(0, first, first + local).Contiguous();
            mask = mask.Slice(0, first, first + local).Contiguous();
            double a = overlapped.Step(images, mask), b = synchronous.Step(images, mask);
            if (BitConverter.DoubleToInt64Bits(a) != BitConverter.DoubleToInt64Bits(b)) mismatched.Add($"loss.{step}");
            var other = synchronous.Model.NamedParameters().ToDictionary(p => p.Name, p => p.Parameter);
            foreach (var (name, p) in overlapped.Model.NamedParameters())
            {
                var q = other[name];
                compared += 2;
                if (!SameBits(p.Grad, q.Grad)) mismatched.Add($"grad.{name}.{step}");
                if (!SameBits(p.Detach(), q.Detach())) mismatched.Add($"param.{name}.{step}");
            }
        }
        var ar = overlapped.GradientAllReduce!;
        return new Result(group.Rank, compared, mismatched, ar.Buckets, ar.LastStartedInBackward, ar.LastStartNodes.ToList(),
            ar.LastBackwardNodes, ar.LastCalls, ar.LastSeconds, ar.LastExposedSeconds, synchronous.LastAllReduceSeconds);
    }

    private static bool SameBits(Tensor? a, Tensor? b)
    {
        if (a is null || b is null) return a is null && b is null;
        return a.ToArray<float>().AsSpan().SequenceEqual(b.ToArray<float>());
    }

    /// <summary>A ResNet classifier's step (forward, backward, gradient average; local BN, no optimizer) alternately with
    /// the synchronous and the overlapped all-reduce, <paramref name="pairs"/> times after one warm-up of each: the
    /// median backward, all-reduce and exposed seconds of each way, side by side in one run.</summary>
    public static string Time(ICommunicator group, string model, int size, int batch, int pairs)
    {
        var net = Backbones.Create(model, new ModelOptions { NumClasses = 1000, Generator = new Generator(7) });
        net.Train();
        var ps = net.Parameters().ToList();
        var ar = new GradientAllReduce(group, ps);
        var x = Tensor.Randn([batch, 3, size, size], new Generator(8 + (ulong)group.Rank));
        var rows = new Dictionary<bool, List<(double Backward, double AllReduce, double Exposed, int Early)>> { [false] = [], [true] = [] };
        for (int i = 0; i < 2 * (pairs + 1); i++)
        {
            bool overlap = i % 2 == 1;
            foreach (var p in ps) p.Grad = null;
            var logits = net.Forward(x);
            var loss = (logits * logits).Mean();
            group.Barrier();                              // both ranks start the backward together
            long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
            if (overlap) using (ar.Overlap()) loss.Backward();
            else loss.Backward();
            double backward = System.Diagnostics.Stopwatch.GetElapsedTime(t0).TotalSeconds;
            ar.Run();
            if (i >= 2) rows[overlap].Add((backward, ar.LastSeconds, ar.LastExposedSeconds, ar.LastStartedInBackward));
        }
        static double Median(IEnumerable<double> v) { var s = v.Order().ToList(); return s[s.Count / 2]; }
        var (sb, sa) = (Median(rows[false].Select(r => r.Backward)), Median(rows[false].Select(r => r.AllReduce)));
        var (ob, oa, oe) = (Median(rows[true].Select(r => r.Backward)), Median(rows[true].Select(r => r.AllReduce)), Median(rows[true].Select(r => r.Exposed)));
        return string.Create(CultureInfo.InvariantCulture,
            $"{model} rank {group.Rank}: {ps.Sum(p => (long)p.NumElements)} parameters, {ar.Buckets} buckets, batch {batch}×{size}², {pairs} pairs (medians, ms): " +
            $"synchronous backward {sb * 1e3:F0} + all-reduce {sa * 1e3:F1} = {(sb + sa) * 1e3:F0}; " +
            $"overlapped backward {ob * 1e3:F0} (of it all-reduce starts and tests {(oa - oe) * 1e3:F1}) + exposed wait {oe * 1e3:F1} = {(ob + oe) * 1e3:F0}; " +
            $"buckets started in the backward {rows[true][^1].Early}/{ar.Buckets}; exposed/synchronous all-reduce {oe / sa:P0}, hidden {1 - oe / sa:P0}; {group.Description}\n");
    }
}
