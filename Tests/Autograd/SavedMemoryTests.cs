using System.Runtime.CompilerServices;
using Sparkle.Autograd;
using Sparkle.Nn.Optim;
using Sparkle.Tensors;
using Sparkle.Tensors.Cpu;
using Xunit;
using F = Sparkle.Nn.Functional;

namespace Sparkle.Tests.Autograd;

/// <summary>What the graph keeps alive: a backward node holds only what its backward reads, and lets go of it as soon
/// as it has run — checked with weak references to the arrays behind tensors (kernels capture raw arrays), so a leak
/// fails the test instead of only costing memory.
/// Also the fused activation backward kernels and the optimizers' allocation-free updates.</summary>
public class SavedMemoryTests
{
    /// <summary>Whether the target dies: several collections, with pauses, because an intra-op worker the OS woke late
    /// may still hold the last parallel job (and the arrays its closure captured) for a moment.</summary>
    private static bool Collected(WeakReference w)
    {
        for (int i = 0; i < 20 && w.IsAlive; i++)
        {
            if (i > 0) Thread.Sleep(10);
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
        return !w.IsAlive;
    }

    /// <summary>An identity op whose backward runs <paramref name="probe"/> (with the gradient passing through).</summary>
    private static Tensor Probe(Tensor x, Action probe)
    {
        Tensor y;
        using (GradMode.NoGrad()) y = x.Clone();
        return Differentiable.Record("Probe", y, [x], g => { probe(); return [g]; });
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static (Tensor Loss, WeakReference Activation) ReluGraph(Tensor x, Tensor w, Action probe)
    {
        var h = Probe(x, probe).MatMul(w).Relu();        // Relu saves its output h
        return (h.Sum(), new WeakReference(((CpuStorage<float>)h.Storage).Data));
    }

    [Fact]
    public void AnActivationDiesAsSoonAsTheNodeThatSavedItHasRun()
    {
        var g = new Generator(5);
        var x = Tensor.Randn([16, 32], g).RequireGrad();
        var w = Tensor.Randn([32, 32], g).RequireGrad();
        bool? deadDuringBackward = null;
        WeakReference? activation = null;
        var (loss, weak) = ReluGraph(x, w, () => deadDuringBackward = Collected(activation!));
        activation = weak;
        Assert.False(Collected(weak));                  // the Relu node still needs it
        loss.Backward();
        // The probe's backward runs after Relu's: by then the engine has released Relu's node, and nothing else
        // (the engine's node table included) may hold the saved storage.
        Assert.True(deadDuringBackward, "the Relu output was still reachable after its node ran (the node kept its saved storages)");
        Assert.NotNull(x.Grad);
        GC.KeepAlive(loss);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static (Tensor Output, WeakReference BnOutput) BnRelu6(Tensor x, Tensor gamma, Tensor beta)
    {
        var z = F.BatchNorm(x, null, null, gamma, beta, training: true);
        return (z.Relu6(), new WeakReference(((CpuStorage<float>)z.Storage).Data));
    }

    [Fact]
    public void BatchNormFollowedByRelu6KeepsOnlyTheBatchNormInputAndTheRelu6Output()
    {
        var g = new Generator(6);
        var x = Tensor.Randn([4, 8, 12, 12], g).RequireGrad();
        var gamma = Tensor.Ones([8]).RequireGrad();
        var beta = Tensor.Zeros([8]).RequireGrad();
        var (y, bnOutput) = BnRelu6(x, gamma, beta);
        // BN's backward reads its input, ReLU6's reads its output: the BN output in between must be free already
        // (a backward closure sharing a closure object with the forward kernel kept it; ReLU6 saved its input).
        Assert.True(Collected(bnOutput), "the batch-norm output is still held by the graph");
        (y * y).Sum().Backward();
        Assert.NotNull(x.Grad);
        Assert.NotNull(gamma.Grad);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static (Tensor Output, WeakReference Input) SparseBn(Tensor x, Tensor gamma, Tensor beta)
    {
        var input = x * 2.0;                                          // an activation only the BN consumes
        var y = Sparkle.Sparse.SparseOps.BatchNorm2d(input, null, null, gamma, beta, training: true);
        return (y, new WeakReference(((CpuStorage<float>)input.Storage).Data));
    }

    [Fact]
    public void SparseBatchNormDoesNotKeepItsDenseInput()
    {
        var active = new bool[2 * 4 * 4];
        for (int i = 0; i < active.Length; i += 3) active[i] = true;
        using var ctx = Sparkle.Sparse.SparseContext.Begin(new Sparkle.Sparse.ActiveMask(2, 4, 4, active));
        var x = Tensor.Randn([2, 8, 16, 16], new Generator(13)).RequireGrad();
        var gamma = Tensor.Ones([8]).RequireGrad();
        var beta = Tensor.Zeros([8]).RequireGrad();
        var (y, input) = SparseBn(x, gamma, beta);
        // Its backward reads the gathered active rows it keeps; the dense input must not be held as well.
        Assert.True(Collected(input), "the sparse batch norm keeps its dense input alive");
        y.Sum().Backward();
        Assert.NotNull(x.Grad);
    }

    [Theory]
    [InlineData(DType.Float32)]
    [InlineData(DType.Float64)]
    public void FusedActivationBackwardsSelectTheGradient(DType dtype)
    {
        var rng = new Random(7);
        double[] specials = [0, 6, -0.0, 5.999, 6.001, 1e-30, -1e-30, double.NaN, double.PositiveInfinity, double.NegativeInfinity];
        foreach (int n in new[] { 1, 7, 8, 15, 16, 17, 33, 64, 100 })
        {
            var ys = new double[n];
            var gs = new double[n];
            for (int i = 0; i < n; i++)
            {
                ys[i] = rng.Next(3) == 0 ? specials[rng.Next(specials.Length)] : rng.NextDouble() * 10 - 2;
                gs[i] = rng.Next(8) == 0 ? double.NaN : rng.NextDouble() * 2 - 1;
            }
            var y = Tensor.FromArray(ys).To(dtype);
            var grad = Tensor.FromArray(gs).To(dtype);
            var relu = Tensor.ReluBackward(grad, y).ToDoubleArray();
            var relu6 = Tensor.Relu6Backward(grad, y).ToDoubleArray();
            var yv = y.ToDoubleArray();
            var gv = grad.ToDoubleArray();
            for (int i = 0; i < n; i++)
            {
                // a select (torch's threshold_backward / hardtanh_backward): a NaN gradient survives only where it passes
                Assert.Equal(yv[i] > 0 ? gv[i] : 0, relu[i]);
                Assert.Equal(yv[i] > 0 && yv[i] < 6 ? gv[i] : 0, relu6[i]);
            }
        }
    }

    [Fact]
    public void Relu6GradientIsTheSameFromTheOutputAsFromTheInput()
    {
        var g = new Generator(8);
        var x = (Tensor.Randn([5, 40], g, DType.Float64) * 5).RequireGrad();
        var y = x.Relu6();
        var upstream = Tensor.Randn([5, 40], g, DType.Float64);
        y.Backward(upstream);
        var xs = x.ToDoubleArray();
        var us = upstream.ToDoubleArray();
        var dx = x.Grad!.ToDoubleArray();
        for (int i = 0; i < xs.Length; i++) Assert.Equal(xs[i] > 0 && xs[i] < 6 ? us[i] : 0, dx[i]);
    }

    private static (Tensor P, Optimizer Opt) OneLargeParameter(string kind)
    {
        var p = Tensor.Randn([1000, 1000], new Generator(9)).RequireGrad();
        Optimizer opt = kind == "lamb"
            ? new Lamb([("w", p)], lr: 1e-3, weightDecay: 0.05)
            : new AdamW([("w", p)], lr: 1e-3, weightDecay: 0.05);
        return (p, opt);
    }

    [Theory]
    [InlineData("lamb")]
    [InlineData("adamw")]
    public void AnOptimizerStepAllocatesNoParameterSizedTemporaries(string kind)
    {
        var (p, opt) = OneLargeParameter(kind);
        p.Grad = Tensor.Randn([1000, 1000], new Generator(10));
        opt.Step();                                      // creates the state and the work buffers
        long before = GC.GetAllocatedBytesForCurrentThread();          // tensors are allocated on the calling thread;
        opt.Step();                                                    // other tests run in parallel on others
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated < 1_000_000, $"{kind}: a step over a 4 MB parameter allocated {allocated / 1e6:F1} MB");
    }

    [Fact]
    public void ZeroGradWithoutSetToNoneKeepsTheGradientTensorsAndAccumulatesAsFresh()
    {
        var g = new Generator(12);
        var x = Tensor.Randn([6, 4], g);
        var w = Tensor.Randn([4, 3], g).RequireGrad();
        var opt = new Sgd([("w", w)], lr: 0.1);
        x.MatMul(w).Square().Sum().Backward();
        var first = w.Grad!;
        var expected = first.ToDoubleArray();
        opt.ZeroGrad(setToNone: false);
        Assert.Same(first, w.Grad);
        Assert.All(w.Grad!.ToDoubleArray(), v => Assert.Equal(0.0, v));
        x.MatMul(w).Square().Sum().Backward();
        Assert.Same(first, w.Grad);
        Assert.Equal(expected, w.Grad!.ToDoubleArray());
        opt.ZeroGrad();
        Assert.Null(w.Grad);
    }
}
