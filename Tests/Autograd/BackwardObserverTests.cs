using Sparkle.Autograd;
using Sparkle.Tensors;
using Sparkle.Tests.Support;
using Xunit;

namespace Sparkle.Tests.Autograd;

/// <summary>The engine's "leaf gradient is final" notification (what the overlapped gradient all-reduce starts buckets
/// from): once per leaf per backward, after the last edge into it (weight sharing gives several), also for a leaf
/// whose branch sends no gradient; as soon as it is final, not at the end; BetweenNodes after every node.</summary>
public class BackwardObserverTests
{
    /// <summary>Snapshots each leaf's gradient when it is said final, and how many nodes had finished by then.</summary>
    private sealed class Recorder : IBackwardObserver
    {
        public readonly List<(Tensor Leaf, double[]? Grad, int Node)> Finals = [];
        public int Nodes;

        public void LeafGradientFinal(Tensor leaf) => Finals.Add((leaf, leaf.Grad?.ToArray<double>(), Nodes));
        public void BetweenNodes() => Nodes++;

        public (double[]? Grad, int Node) Single(Tensor leaf)
        {
            var all = Finals.Where(f => ReferenceEquals(f.Leaf, leaf)).ToList();
            Assert.True(all.Count == 1, $"said final {all.Count} times, not once");
            return (all[0].Grad, all[0].Node);
        }
    }

    private static Tensor Vec(params double[] v) => Tensor.FromArray(v).RequireGrad();

    [Fact]
    public void EachLeafIsSaidFinalOnceWithItsWholeGradientAndEarlyWhenItIsNearTheOutput()
    {
        // x reaches the loss by three edges (x·3, and x·x with x twice), each adding a distinct amount: a notice one edge
        // early would snapshot a partial gradient. b is used only by the last op, a only by the first.
        var x = Vec(0.5, -2);
        var a = Vec(1.5, 0.25);
        var b = Vec(4, -1);
        var rec = new Recorder();
        using (BackwardObserver.Use(rec))
        {
            var h = (x * 3.0 + x * x) * a;
            var loss = ((h.Exp() + 1.0) * b).Sum();
            loss.Backward();
        }
        Assert.Equal(3, rec.Finals.Count);
        foreach (var leaf in new[] { x, a, b })
        {
            var (grad, _) = rec.Single(leaf);
            Assert.Equal(leaf.Grad!.ToArray<double>(), grad!);
        }
        Check.Close([(3 + 2 * 0.5) * 1.5 * Math.Exp((1.5 + 0.25) * 1.5) * 4, (3 - 4) * 0.25 * Math.Exp((-6 + 4) * 0.25) * -1], x.Grad!, 1e-12);
        // b's gradient is final when the last op's Mul (the second node, after the Sum) has run, x's only at the end.
        Assert.Equal(1, rec.Single(b).Node);
        Assert.Equal(rec.Nodes - 1, rec.Single(x).Node);
        Assert.True(rec.Single(b).Node < rec.Single(a).Node, "b (near the output) must be final before a (near the input)");
    }

    [Fact]
    public void ALeafWhoseBranchSendsNoGradientIsStillSaidFinalAndTheOtherPathStillCounts()
    {
        // w feeds two branches: one through an op whose backward returns no gradient (null), one ordinary. Also u, reached
        // only through the silent branch: said final, with no gradient.
        var w = Vec(2, 3);
        var u = Vec(-1, 1);
        var rec = new Recorder();
        using (BackwardObserver.Use(rec))
        {
            var silentInput = w * u;
            var silent = Differentiable.Record("Silent", silentInput.Detach() * 2.0, [silentInput], _ => [null]);
            var loss = (silent + w * 5.0).Sum();
            loss.Backward();
        }
        Assert.Equal(2, rec.Finals.Count);
        Assert.Equal(new double[] { 5, 5 }, rec.Single(w).Grad!);
        Assert.Null(rec.Single(u).Grad);
        Assert.Null(u.Grad);
    }

    [Fact]
    public void BetweenNodesRunsAfterEveryNodeAndARootLeafIsSaidFinal()
    {
        var x = Vec(1, 2);
        var rec = new Recorder();
        using (BackwardObserver.Use(rec))
        {
            ((x * 2.0 + x * x).Sum()).Backward();   // Sum, Add, Mul, Mul
            Assert.Equal(4, rec.Nodes);
            var leafRoot = Tensor.FromArray(new double[] { 7 }).RequireGrad();
            leafRoot.Backward();
            Assert.Same(leafRoot, rec.Finals[^1].Leaf);
        }
        // Uninstalled with the scope: the next backward tells nobody.
        (x * 2.0).Sum().Backward();
        Assert.Equal(4, rec.Nodes);
        Assert.Null(BackwardObserver.Current);
    }
}
