using Sparkle.Autograd;
using Sparkle.Tensors;
using Sparkle.Tests.Support;
using Xunit;

namespace Sparkle.Tests.Autograd;

/// <summary>The engine's contract: accumulation, broadcasting, shared subexpressions, grad modes, detach, graph
/// release, in-place safety and the errors a user meets.</summary>
public class AutogradBehaviourTests
{
    private static Tensor Vec(params double[] v) => Tensor.FromArray(v);

    [Fact]
    public void GradientsAccumulateOverBackwardCallsUntilCleared()
    {
        var x = Vec(1, 2).RequireGrad();
        (x * 3.0).Sum().Backward();
        (x * x).Sum().Backward();
        Check.Close([3 + 2, 3 + 4], x.Grad!, 0);
        x.Grad = null;
        (x * 3.0).Sum().Backward();
        Check.Close([3, 3], x.Grad!, 0);
    }

    [Fact]
    public void BroadcastOperandsGetGradientsSummedToTheirShape()
    {
        var a = Tensor.FromArray(new double[] { 1, 2, 3 }, [3, 1]).RequireGrad();
        var b = Tensor.FromArray(new double[] { 10, 20, 30, 40 }).RequireGrad();
        (a * b).Sum().Backward();
        Check.Shape(a.Grad!, 3, 1);
        Check.Close([100, 100, 100], a.Grad!, 0);
        Check.Shape(b.Grad!, 4);
        Check.Close([6, 6, 6, 6], b.Grad!, 0);
    }

    [Fact]
    public void SharedSubexpressionSumsBothPaths()
    {
        // y = x^2 used twice: z = y + y*y, dz/dx = 2x + 4x^3.
        var x = Vec(0.5, -1.5, 2).RequireGrad();
        var y = x * x;
        (y + y * y).Sum().Backward();
        Check.Close([1 + 0.5, -3 - 13.5, 4 + 32], x.Grad!, 1e-12);
    }

    [Fact]
    public void SameTensorAsBothOperands()
    {
        var x = Vec(3).RequireGrad();
        (x * x).Backward(Vec(1));
        Check.Close([6], x.Grad!, 0);
    }

    [Fact]
    public void NoGradStopsRecordingAndEnableGradResumesIt()
    {
        var x = Vec(1, 2).RequireGrad();
        Tensor inside, resumed;
        using (GradMode.NoGrad())
        {
            Assert.False(GradMode.IsEnabled);
            inside = x * 2.0;
            using (GradMode.EnableGrad()) resumed = x * 2.0;
            Assert.False(GradMode.IsEnabled);
        }
        Assert.True(GradMode.IsEnabled);
        Assert.False(inside.RequiresGrad);
        Assert.Null(inside.GradFnName);
        Assert.True(resumed.RequiresGrad);
        Assert.Equal("MulBackward", resumed.GradFnName);
    }

    [Fact]
    public void GradModeIsPerThread()
    {
        var x = Vec(1).RequireGrad();
        using (GradMode.NoGrad())
        {
            bool other = false;
            var thread = new Thread(() => other = (x * 2.0).RequiresGrad);   // a real thread: a Task could run inline here
            thread.Start();
            thread.Join();
            Assert.True(other);
            Assert.False((x * 2.0).RequiresGrad);
        }
    }

    [Fact]
    public void DetachCutsTheGraphButSharesStorage()
    {
        var x = Vec(1, 2).RequireGrad();
        var d = (x * 2.0).Detach();
        Assert.True(d.IsLeaf);
        Assert.False(d.RequiresGrad);
        var loss = (x * d).Sum();           // d is a constant here: dloss/dx = d = 2x
        loss.Backward();
        Check.Close([2, 4], x.Grad!, 0);
        var view = x.Detach();
        using (GradMode.NoGrad()) x.Mul_(10.0);
        Check.Close([10, 20], view, 0);
    }

    [Fact]
    public void SecondBackwardAfterTheGraphIsFreedFailsClearly()
    {
        var x = Vec(1, 2).RequireGrad();
        var loss = (x.Exp() * 2.0).Sum();
        loss.Backward();
        var e = Assert.Throws<InvalidOperationException>(() => loss.Backward());
        Assert.Contains("second time", e.Message);
        Assert.Contains("retainGraph", e.Message);
    }

    [Fact]
    public void RetainGraphAllowsASecondBackward()
    {
        var x = Vec(1, 2).RequireGrad();
        var loss = (x * x).Sum();
        loss.Backward(retainGraph: true);
        loss.Backward();
        Check.Close([4, 8], x.Grad!, 0);
    }

    [Fact]
    public void NonScalarBackwardNeedsAGradient()
    {
        var x = Vec(1, 2).RequireGrad();
        var y = x * 3.0;
        var e = Assert.Throws<InvalidOperationException>(() => y.Backward());
        Assert.Contains("(2)", e.Message);
        Assert.Throws<ArgumentException>(() => y.Backward(Vec(1, 2, 3)));
        y.Backward(Vec(1, 10));
        Check.Close([3, 30], x.Grad!, 0);
    }

    [Fact]
    public void BackwardOnATensorWithoutGraphFails()
    {
        var e = Assert.Throws<InvalidOperationException>(() => Vec(1).Backward());
        Assert.Contains("does not require grad", e.Message);
    }

    [Fact]
    public void BackwardOnALeafAccumulatesIntoItself()
    {
        var x = Vec(1, 2).RequireGrad();
        x.Backward(Vec(5, 6));
        Check.Close([5, 6], x.Grad!, 0);
    }

    [Fact]
    public void InPlaceOnALeafThatRequiresGradFailsUnlessNoGrad()
    {
        var w = Vec(1, 2).RequireGrad();
        var e = Assert.Throws<InvalidOperationException>(() => w.Add_(Vec(1, 1)));
        Assert.Contains("NoGrad", e.Message);
        using (GradMode.NoGrad()) w.Sub_(Vec(1, 1), alpha: 0.5);
        Check.Close([0.5, 1.5], w, 0);
    }

    [Fact]
    public void InPlaceOnARecordedResultFails()
    {
        var y = Vec(1, 2).RequireGrad() * 2.0;
        Assert.Throws<InvalidOperationException>(() => y.Fill_(0));
    }

    [Fact]
    public void ModifyingASavedTensorInPlaceMakesBackwardFail()
    {
        var a = Vec(1, 2).RequireGrad();
        var b = Vec(3, 4);                    // saved by Mul for a's gradient
        var loss = (a * b).Sum();
        b.Mul_(2.0);
        var e = Assert.Throws<InvalidOperationException>(() => loss.Backward());
        Assert.Contains("in-place", e.Message);
        Assert.Contains("MulBackward", e.Message);
    }

    [Fact]
    public void RequiresGradRulesMatchTorch()
    {
        Assert.Throws<InvalidOperationException>(() => Tensor.Arange(3).RequireGrad());
        var y = Vec(1).RequireGrad() * 2.0;
        Assert.Throws<InvalidOperationException>(() => y.RequiresGrad = false);
        Assert.False((Vec(1) * Vec(2)).RequiresGrad);
        var x = Vec(1, 2).RequireGrad();
        var cmp = x.Gt(1.5);
        Assert.Equal(DType.Bool, cmp.DType);
        Assert.False(cmp.RequiresGrad);
        Assert.False(x.ArgMax().RequiresGrad);
        Assert.Contains("grad_fn=MulBackward", y.ToString());
    }

    [Fact]
    public void RetainGradKeepsAnIntermediateGradient()
    {
        var x = Vec(1, 2).RequireGrad();
        var h = (x * 3.0).RetainGrad();
        (h * h).Sum().Backward();
        Check.Close([6, 12], h.Grad!, 0);
        Check.Close([18, 36], x.Grad!, 0);
    }

    [Fact]
    public void OnlyInputsThatRequireGradGetGradients()
    {
        var a = Vec(1, 2).RequireGrad();
        var b = Vec(3, 4);
        (a * b).Sum().Backward();
        Assert.Null(b.Grad);
        Check.Close([3, 4], a.Grad!, 0);
    }

    [Fact]
    public void DeepChainsDoNotOverflowTheStack()
    {
        var x = Vec(1).RequireGrad();
        var y = x;
        for (int i = 0; i < 20_000; i++) y = y * 1.0;
        y.Sum().Backward();
        Check.Close([1], x.Grad!, 0);
    }

    [Fact]
    public void BackwardReleasesTheGraph()
    {
        var x = Vec(1, 2, 3).RequireGrad();
        var (loss, intermediate) = BuildWithIntermediate(x);
        loss.Backward();
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        Assert.False(intermediate.TryGetTarget(out _), "an intermediate saved for backward is still reachable from the loss after Backward()");
        GC.KeepAlive(loss);
    }

    private static (Tensor Loss, WeakReference<Tensor> Intermediate) BuildWithIntermediate(Tensor x)
    {
        var h = x.Exp();                       // Exp saves its output for the backward
        var loss = (h * 2.0).Sum();
        return (loss, new WeakReference<Tensor>(h));
    }

    [Fact]
    public void CustomFunctionsRecordThroughDifferentiable()
    {
        // A user-defined op: y = 3x with its own backward.
        var x = Vec(1, 2).RequireGrad();
        Tensor Triple(Tensor t)
        {
            if (!Differentiable.NeedsGrad(t)) return t * 3.0;
            Tensor y;
            using (GradMode.NoGrad()) y = t * 3.0;
            return Differentiable.Record("Triple", y, [t], g => [g * 3.0]);
        }
        var z = Triple(x);
        Assert.Equal("TripleBackward", z.GradFnName);
        z.Sum().Backward();
        Check.Close([3, 3], x.Grad!, 0);
    }

    [Fact]
    public void AWrongShapedGradientFromABackwardFunctionIsReported()
    {
        var x = Vec(1, 2).RequireGrad();
        Tensor y;
        using (GradMode.NoGrad()) y = x * 1.0;
        y = Differentiable.Record("Broken", y, [x], g => [g.Sum()]);
        var e = Assert.Throws<InvalidOperationException>(() => y.Sum().Backward());
        Assert.Contains("BrokenBackward", e.Message);
        Assert.Contains("input 0", e.Message);
    }
}
