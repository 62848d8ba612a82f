using Sparkle.Autograd;
using Sparkle.Nn.Parallel;
using Sparkle.Tensors;
using Xunit;

namespace Sparkle.Tests.Nn;

/// <summary>The overlapped gradient all-reduce (DDP's Reducer) in one process against a recording two-rank stand-in:
/// the same sums as the synchronous path, bit for bit; buckets started inside the backward, in bucket order (a bucket
/// whose parameter the backward never reaches holds back the ones after it until the end); its collectives tested
/// between nodes. The 2-rank MPI run is DistributedOverlapTests.</summary>
public class GradientAllReduceOverlapTests
{
    /// <summary>Size 2, rank 0: a "sum" adds a fixed function of each value (the other rank's part), written when the
    /// request completes (after two tests, or at the wait), as MPI writes a nonblocking result late.</summary>
    private sealed class RecordingGroup : ICommunicator
    {
        public readonly List<string> Events = [];
        public int Tests;

        public int Rank => 0;
        public int Size => 2;
        public string Description => "recording stand-in";
        public void Broadcast(Span<float> buffer, int root = 0) { }
        public void Broadcast(Span<double> buffer, int root = 0) { }
        public void Broadcast(Span<long> buffer, int root = 0) { }
        public void AllReduceSum(Span<float> buffer) { Events.Add($"blocking {buffer.Length}"); foreach (ref var v in buffer) v = Sum(v); }
        public void AllReduceSum(Span<double> buffer) => throw new NotSupportedException();
        public void AllReduceSum(Span<long> buffer) => throw new NotSupportedException();
        public void AllReduceMax(Span<double> buffer) => throw new NotSupportedException();
        public void Barrier() { }
        public void Abort(int exitCode, string message) => throw new InvalidOperationException(message);
        public void Dispose() { }

        public ICollectiveRequest StartAllReduceSum(PinnedBuffer<float> buffer, int count)
        {
            Events.Add($"start {count}");
            return new Request(this, buffer, count);
        }

        public ICollectiveRequest StartAllReduceSum(PinnedBuffer<double> buffer, int count) => throw new NotSupportedException();

        public static float Sum(float v) => v + (v * 0.75f + 1);

        private sealed class Request(RecordingGroup group, PinnedBuffer<float> buffer, int count) : ICollectiveRequest
        {
            private int _tests;
            public bool IsCompleted { get; private set; }

            public bool Test()
            {
                group.Tests++;
                if (!IsCompleted && ++_tests >= 2) Complete();
                return IsCompleted;
            }

            public void Wait() { if (!IsCompleted) Complete(); }

            private void Complete()
            {
                foreach (ref var v in buffer.Span[..count]) v = Sum(v);
                IsCompleted = true;
            }
        }
    }

    /// <summary>Registration order W0 b0 W1 b1 U W2 b2 W3 b3 (16×16 and 16 floats); W2 is used twice (weight sharing),
    /// once right after the first layer, so its gradient is final only near the end of the backward, long after its
    /// bucket-mates U and b1; U only when <paramref name="useU"/>. With 2 KiB buckets the reverse order packs
    /// [b3 W3 b2] [W2 U b1] [W1 b0] [W0].</summary>
    private static (Tensor[] Parameters, Func<Tensor> Loss) Net(bool useU)
    {
        var g = new Generator(5);
        Tensor P(params int[] shape) => (Tensor.Randn(shape, g) * 0.5).RequireGrad();
        var w0 = P(16, 16); var b0 = P(16); var w1 = P(16, 16); var b1 = P(16); var u = P(16);
        var w2 = P(16, 16); var b2 = P(16); var w3 = P(16, 16); var b3 = P(16);
        var x = Tensor.Randn([4, 16], g);
        Tensor Loss()
        {
            var h = (x.MatMul(w0) + b0).Tanh();
            h = h.MatMul(w2).Tanh();                 // W2's first use: its last gradient in the backward
            h = (h.MatMul(w1) + b1).Tanh();
            if (useU) h = h * u;
            h = (h.MatMul(w2) + b2).Tanh();
            h = (h.MatMul(w3) + b3).Tanh();
            return (h * h).Sum();
        }
        return ([w0, b0, w1, b1, u, w2, b2, w3, b3], Loss);
    }

    private static float[]?[] Grads(Tensor[] ps) => ps.Select(p => p.Grad?.ToArray<float>()).ToArray();

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void OverlappedGivesTheSynchronousSumsBitForBit(bool useU)
    {
        var (ps, loss) = Net(useU);
        var group = new RecordingGroup();
        var allReduce = new GradientAllReduce(group, ps, bucketBytes: 2048);
        loss().Backward();
        allReduce.Run();
        var synchronous = Grads(ps);
        Assert.DoesNotContain(group.Events, e => e.StartsWith("start", StringComparison.Ordinal));

        foreach (var p in ps) p.Grad = null;
        group.Events.Clear();
        using (allReduce.Overlap()) loss().Backward();
        allReduce.Run();
        var overlapped = Grads(ps);
        Assert.DoesNotContain(group.Events, e => e.StartsWith("blocking", StringComparison.Ordinal));
        for (int i = 0; i < ps.Length; i++)
        {
            if (synchronous[i] is null) { Assert.Null(overlapped[i]); continue; }
            Assert.Equal(synchronous[i]!, overlapped[i]!);
        }
        Assert.Equal(useU, synchronous[4] is not null);
        Assert.All(new[] { 0, 1, 2, 3, 5, 6, 7, 8 }, i => Assert.True(synchronous[i]!.Any(v => v != 0), $"parameter {i} has a zero gradient"));
    }

    [Fact]
    public void BucketsStartInOrderInsideTheBackwardAndAreTestedBetweenNodes()
    {
        var (ps, loss) = Net(useU: true);
        var group = new RecordingGroup();
        var allReduce = new GradientAllReduce(group, ps, bucketBytes: 2048);
        Assert.Equal(4, allReduce.Buckets);
        using (allReduce.Overlap()) loss().Backward();
        int testsInBackward = group.Tests;
        allReduce.Run();
        Assert.Equal(4, allReduce.LastStartedInBackward);
        Assert.Equal(4, allReduce.LastCalls);
        // Bucket sizes in start order: [b3 W3 b2] first, as soon as the last op's backward has run; [W0] last.
        Assert.Equal(new[] { "start 288", "start 288", "start 272", "start 256" }, group.Events);
        // Nodes finished before each start, of 17: Sum, Mul, Tanh, Add b3, MatMul W3, Tanh, then in the 7th (Add b2) b2 is
        // final: bucket 0 starts; MatMul W2 (its second use), Mul U, Tanh, Add b1, MatMul W1, Tanh, then MatMul W2 (its
        // first use) makes W2 final: bucket 1; Tanh, Add b0: bucket 2; MatMul W0, the last node: bucket 3.
        Assert.Equal(17, allReduce.LastBackwardNodes);
        Assert.Equal(new[] { 6, 13, 15, 16 }, allReduce.LastStartNodes);
        Assert.True(testsInBackward > 0, "no collective was tested between nodes");
        Assert.True(allReduce.LastExposedSeconds <= allReduce.LastSeconds);
    }

    [Fact]
    public void ABucketWithAParameterTheBackwardNeverReachesHoldsBackTheLaterOnesUntilTheEnd()
    {
        var (ps, loss) = Net(useU: false);
        var group = new RecordingGroup();
        var allReduce = new GradientAllReduce(group, ps, bucketBytes: 2048);
        using (allReduce.Overlap()) loss().Backward();
        // [b3 W3 b2] starts in the backward; [W2 U b1] waits for U, which never comes, and [W1 b0], [W0] wait behind it
        // (every rank must start the same buckets in the same order) although they were ready.
        Assert.Equal(new[] { "start 288" }, group.Events);
        allReduce.Run();
        Assert.Equal(1, allReduce.LastStartedInBackward);
        Assert.Equal(new[] { "start 288", "start 272", "start 272", "start 256" }, group.Events);
    }

    [Fact]
    public void ASecondBackwardIntoABucketAlreadySentIsRefused()
    {
        // Accumulating two backwards inside one overlap scope would add to gradients already packed and sent.
        var (ps, loss) = Net(useU: true);
        var allReduce = new GradientAllReduce(new RecordingGroup(), ps, bucketBytes: 2048);
        using (allReduce.Overlap())
        {
            loss().Backward();
            var e = Assert.Throws<InvalidOperationException>(() => loss().Backward());
            Assert.Contains("second backward", e.Message, StringComparison.Ordinal);
        }
    }
}
