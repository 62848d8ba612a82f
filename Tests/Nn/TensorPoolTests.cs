using System.Runtime.CompilerServices;
using Sparkle.Autograd;
using Sparkle.Nn;
using Sparkle.Nn.Layers;
using Sparkle.Nn.Optim;
using Sparkle.Tensors;
using Xunit;
using F = Sparkle.Nn.Functional;

namespace Sparkle.Tests.Nn;

/// <summary>TensorPool: recycling the arrays of dead tensors changes no result, keeps what is referenced, and reaches a
/// steady state where a training step allocates nothing fresh.</summary>
public class TensorPoolTests
{
    /// <summary>A small conv net whose activations (8 x 16 x 16 x 16 floats = 128 KB) are above the pool's 16 KB floor.</summary>
    private static (Sequential Net, Sgd Opt) NewNet()
    {
        var g = new Generator(11);
        var net = new Sequential(
            new Conv2d(3, 16, 3, padding: 1, generator: g), new BatchNorm2d(16), new ReLU(),
            new Conv2d(16, 16, 3, padding: 1, bias: false, generator: g), new BatchNorm2d(16), new ReLU(),
            new AdaptiveAvgPool2d(1), new Flatten(), new Linear(16, 5, generator: g));
        return (net, new Sgd(net.NamedParameters(), lr: 0.1, momentum: 0.9));
    }

    private static (Tensor X, Tensor Y) Batch(int step)
    {
        var g = new Generator(100 + (ulong)step);
        return (Tensor.Randn([8, 3, 16, 16], g), Tensor.Randint(0, 5, [8], g));
    }

    private static double Step(Module net, Sgd opt, int step)
    {
        var (x, y) = Batch(step);
        var loss = F.CrossEntropy(net.Forward(x), y);
        opt.ZeroGrad();
        loss.Backward();
        opt.Step();
        return loss.Item();
    }

    private static void AssertSameState(Module expected, Module actual)
    {
        var a = expected.StateDict();
        foreach (var (name, t) in actual.StateDict())
            Assert.Equal(a[name].ToDoubleArray(), t.ToDoubleArray());
    }

    [Fact]
    public void PooledTrainingIsBitIdenticalToUnpooled()
    {
        var (plain, plainOpt) = NewNet();
        var (pooled, pooledOpt) = NewNet();
        var pool = new TensorPool();
        for (int step = 0; step < 8; step++)
        {
            double expected = Step(plain, plainOpt, step);
            double actual;
            using (pool.Use()) actual = Step(pooled, pooledOpt, step);
            Assert.Equal(expected, actual);
        }
        Assert.True(pool.Stats.Reused > 0, $"the pool never served an array: {pool.Stats}");
        AssertSameState(plain, pooled);
    }

    /// <summary>With a collection at every safe point, arrays are recycled inside the forward too (Sequential's safe
    /// points between children) and after every backward node: still the same bits as without a pool.</summary>
    [Fact]
    public void PooledTrainingWithACollectionAtEverySafePointIsBitIdentical()
    {
        var (plain, plainOpt) = NewNet();
        var (pooled, pooledOpt) = NewNet();
        var pool = new TensorPool();
        long every = Sparkle.Tensors.Cpu.StoragePool.ReclaimEveryBytes;
        Sparkle.Tensors.Cpu.StoragePool.ReclaimEveryBytes = 0;
        try
        {
            for (int step = 0; step < 4; step++)
            {
                double expected = Step(plain, plainOpt, step);
                var (x, y) = Batch(step);
                double actual;
                using (pool.Use())
                {
                    int collections = pool.Stats.Collections;
                    var logits = pooled.Forward(x);
                    Assert.True(pool.Stats.Collections >= collections + pooled.Count - 1, "the forward reached no safe points");
                    var loss = F.CrossEntropy(logits, y);
                    pooledOpt.ZeroGrad(setToNone: false);
                    loss.Backward();
                    pooledOpt.Step();
                    actual = loss.Item();
                }
                Assert.Equal(expected, actual);
            }
        }
        finally { Sparkle.Tensors.Cpu.StoragePool.ReclaimEveryBytes = every; }
        AssertSameState(plain, pooled);
    }

    [Fact]
    public void SteadyStateStepsAllocateNothingFresh()
    {
        var (net, opt) = NewNet();
        var pool = new TensorPool();
        for (int step = 0; step < 3; step++) using (pool.Use()) Step(net, opt, step);
        var warm = pool.Stats;
        for (int step = 3; step < 8; step++) using (pool.Use()) Step(net, opt, step);
        var after = pool.Stats;
        Assert.Equal(warm.Fresh, after.Fresh);
        Assert.True(after.Reused > warm.Reused);
    }

    [Fact]
    public void ReferencedTensorsKeepTheirValuesAcrossSteps()
    {
        var (net, opt) = NewNet();
        var pool = new TensorPool();
        var kept = new List<(Tensor Tensor, double[] Values)>();
        for (int step = 0; step < 6; step++)
        {
            using (pool.Use())
            {
                var (x, _) = Batch(step);
                var hidden = net.Forward(x);                              // part of the graph, kept by the test
                var loss = F.MseLoss(hidden, Tensor.ZerosLike(hidden));
                var activation = (x * 3.0).Relu();                         // outside the graph
                kept.Add((activation, activation.ToDoubleArray()));
                kept.Add((hidden, hidden.ToDoubleArray()));
                opt.ZeroGrad();
                loss.Backward();
                opt.Step();
            }
        }
        foreach (var (t, values) in kept) Assert.Equal(values, t.ToDoubleArray());
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Garbage(int[] shape) => Tensor.Full(shape, 7.0).Add_(1.0);

    [Fact]
    public void RecycledArraysAreZeroedOrPoisonedAsAsked()
    {
        var pool = new TensorPool();
        using (pool.Use())
        {
            Garbage([64, 64]);
            pool.Reclaim();
            Assert.True(pool.Stats.Free >= 64 * 64 * 4, $"the dead tensor's array was not reclaimed: {pool.Stats}");
            var zeros = Tensor.Zeros([64, 64]);
            Assert.All(zeros.ToDoubleArray(), v => Assert.Equal(0.0, v));
            Garbage([64, 64]);
            pool.Reclaim();
            long reused = pool.Stats.Reused;
            var empty = Tensor.Empty([64, 64]);                               // tests poison unzeroed outputs
            Assert.All(empty.ToDoubleArray(), v => Assert.True(double.IsNaN(v)));
            Assert.True(pool.Stats.Reused > reused);
        }
    }

    [Fact]
    public void AFreeArrayUpToTwiceTheRequestServesIt()
    {
        var pool = new TensorPool();
        using (pool.Use())
        {
            Garbage([64, 100]);                                              // 6,400 floats, each 8.0
            pool.Reclaim();
            long reused = pool.Stats.Reused;
            var z = Tensor.Zeros([64, 64]);                                  // 4,096 <= 6,400 <= 2 x 4,096: served by it
            Assert.True(pool.Stats.Reused > reused, $"the longer free array did not serve the request: {pool.Stats}");
            Assert.All(z.ToDoubleArray(), v => Assert.Equal(0.0, v));
            z.Add_(1.0);
            Assert.Equal(4096.0, z.Sum().Item());
            Assert.True(pool.Stats.Free == 0, $"the array is in use, not free: {pool.Stats}");
            Garbage([64, 160]);                                              // 10,240 floats: more than twice 4,096
            pool.Reclaim();
            reused = pool.Stats.Reused;
            var e = Tensor.Empty([64, 64]);
            Assert.Equal(reused, pool.Stats.Reused);
            GC.KeepAlive(e);
        }
    }

    /// <summary>Runs on a new thread (a task could be inlined on the waiting thread).</summary>
    private static Exception? OnOtherThread(Action action)
    {
        Exception? error = null;
        var thread = new Thread(() => { try { action(); } catch (Exception e) { error = e; } });
        thread.Start();
        thread.Join();
        return error;
    }

    [Fact]
    public void APoolServesOneThreadAtATime()
    {
        var pool = new TensorPool();
        using (pool.Use())
        {
            using (pool.Use()) { }                                        // nesting on the same thread is fine
            var error = Assert.IsType<InvalidOperationException>(OnOtherThread(() => pool.Use()));
            Assert.Contains("one thread at a time", error.Message);
        }
        Assert.Null(OnOtherThread(() => pool.Use().Dispose()));          // free again once the first scope ended
    }

    [Fact]
    public void WithoutAPoolNothingChanges()
    {
        Assert.False(TensorMemory.IsPooled);
        TensorMemory.SafePoint();
        TensorMemory.Reclaim();
        var pool = new TensorPool();
        using (pool.Use()) Assert.True(TensorMemory.IsPooled);
        Assert.False(TensorMemory.IsPooled);
    }
}
