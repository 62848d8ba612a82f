using Sparkle.Autograd;
using Sparkle.Tensors;
using Xunit;

namespace Sparkle.Tests.Autograd;

/// <summary>End to end: a 2-layer MLP trained by plain SGD written here, on a synthetic problem a linear model
/// cannot solve (three concentric rings). Also the memory contract of the engine over many steps.</summary>
public class MlpTrainingTests
{
    private const int Classes = 3, PerClass = 100, Hidden = 32;

    /// <summary>Points on rings of radius 1, 2 and 3 (class = ring) with a little radial noise.</summary>
    private static (Tensor X, Tensor Y, long[] Labels) Rings(int seed)
    {
        var rng = new Random(seed);
        var x = new float[Classes * PerClass * 2];
        var labels = new long[Classes * PerClass];
        for (int c = 0; c < Classes; c++)
            for (int i = 0; i < PerClass; i++)
            {
                int k = c * PerClass + i;
                double angle = rng.NextDouble() * 2 * Math.PI, r = c + 1 + (rng.NextDouble() - 0.5) * 0.3;
                x[2 * k] = (float)(r * Math.Cos(angle));
                x[2 * k + 1] = (float)(r * Math.Sin(angle));
                labels[k] = c;
            }
        return (Tensor.FromArray(x, [labels.Length, 2]), Tensor.FromArray(labels), labels);
    }

    /// <summary>Mean cross-entropy from logits, written with core ops (log-sum-exp with the max subtracted).</summary>
    private static Tensor CrossEntropy(Tensor logits, Tensor labels)
    {
        var shifted = logits - logits.Max([1], keepDim: true).Detach();
        var logZ = shifted.Exp().Sum([1], keepDim: true).Log();
        var picked = shifted.Gather(1, labels.Unsqueeze(1));
        return (logZ - picked).Mean();
    }

    private sealed class Mlp
    {
        public readonly Tensor W1, B1, W2, B2;

        public Mlp(int seed)
        {
            var g = new Generator((ulong)seed);
            W1 = (Tensor.Randn([2, Hidden], g) * Math.Sqrt(2.0 / 2)).RequireGrad();
            B1 = Tensor.Zeros([Hidden]).RequireGrad();
            W2 = (Tensor.Randn([Hidden, Classes], g) * Math.Sqrt(1.0 / Hidden)).RequireGrad();
            B2 = Tensor.Zeros([Classes]).RequireGrad();
        }

        public Tensor[] Parameters => [W1, B1, W2, B2];
        public Tensor Forward(Tensor x) => (x.MatMul(W1) + B1).Relu().MatMul(W2) + B2;

        public void SgdStep(double lr)
        {
            using var _ = GradMode.NoGrad();
            foreach (var p in Parameters)
            {
                p.Sub_(p.Grad!, alpha: lr);
                p.Grad = null;
            }
        }
    }

    [Fact]
    public void TwoLayerMlpReaches95PercentTrainingAccuracy()
    {
        var (x, y, labels) = Rings(seed: 7);
        var model = new Mlp(seed: 3);
        double firstLoss = double.NaN, loss = double.NaN;
        for (int step = 0; step < 1500; step++)
        {
            var l = CrossEntropy(model.Forward(x), y);
            loss = l.Item();
            if (step == 0) firstLoss = loss;
            l.Backward();
            model.SgdStep(lr: 0.5);
            if (step % 100 == 99 && Accuracy(model, x, labels) >= 0.99) break;
        }
        double accuracy = Accuracy(model, x, labels);
        Assert.True(accuracy >= 0.95, $"training accuracy {accuracy:P1} after SGD (loss {firstLoss:F3} -> {loss:F3})");
        Assert.True(loss < firstLoss / 4, $"loss fell only from {firstLoss:F3} to {loss:F3}");
    }

    private static double Accuracy(Mlp model, Tensor x, long[] labels)
    {
        using var _ = GradMode.NoGrad();
        var predicted = model.Forward(x).ArgMax(1).ToArray<long>();
        return predicted.Zip(labels).Count(p => p.First == p.Second) / (double)labels.Length;
    }
}

/// <summary>The engine's memory contract over many steps. Alone in a serial collection: GC.GetTotalMemory is process-wide,
/// so tests allocating in parallel would count against it.</summary>
[Collection(Name)]
public class AutogradMemoryTests(Xunit.Abstractions.ITestOutputHelper output)
{
    public const string Name = "Autograd memory (serial)";

    [Fact]
    public void TenThousandStepsDoNotGrowManagedMemory()
    {
        var x = Tensor.Randn([8, 4], new Generator(1));
        var w = (Tensor.Randn([4, 4], new Generator(2)) * 0.1).RequireGrad();
        var b = Tensor.Zeros([4]).RequireGrad();
        long after1k = 0;
        for (int step = 1; step <= 10_000; step++)
        {
            var loss = ((x.MatMul(w) + b).Tanh().Square().Mean() + w.Square().Sum() * 1e-3);
            loss.Backward();
            using (GradMode.NoGrad())
            {
                w.Sub_(w.Grad!, alpha: 0.01);
                b.Sub_(b.Grad!, alpha: 0.01);
                w.Grad!.Zero_();
                b.Grad!.Zero_();
            }
            if (step == 1_000) after1k = SettledMemory();
        }
        long after10k = SettledMemory();
        output.WriteLine($"managed memory after step 1,000: {after1k:N0} B; after step 10,000: {after10k:N0} B");
        Assert.True(after10k - after1k < 2_000_000,
            $"managed memory grew by {(after10k - after1k) / 1e6:F1} MB between step 1,000 ({after1k / 1e6:F1} MB) and step 10,000 ({after10k / 1e6:F1} MB)");
    }

    private static long SettledMemory()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        return GC.GetTotalMemory(forceFullCollection: true);
    }
}

[CollectionDefinition(AutogradMemoryTests.Name, DisableParallelization = true)]
public sealed class AutogradMemoryCollection;
