using Sparkle.Autograd;
using Sparkle.Tensors;
using Sparkle.Tests.Support;
using Xunit;

namespace Sparkle.Tests.Autograd;

public class AutogradSmokeTests
{
    [Fact]
    public void MulSumGradientIsTheOtherFactor()
    {
        var a = Tensor.FromArray(new double[] { 1, 2, 3 }).RequireGrad();
        var b = Tensor.FromArray(new double[] { 4, 5, 6 }).RequireGrad();
        var loss = (a * b).Sum();
        Assert.Equal("SumBackward", loss.GradFnName);
        loss.Backward();
        Check.Close([4, 5, 6], a.Grad!, 0);
        Check.Close([1, 2, 3], b.Grad!, 0);
    }

    [Fact]
    public void GradCheckCatchesAWrongRule()
    {
        var x = Tensor.FromArray(new double[] { 0.5, 1.5 }).RequireGrad();
        // A deliberately wrong backward: claims d(x^2)/dx = x.
        Tensor F(Tensor[] t)
        {
            var y = t[0].Detach().Square();
            return Differentiable.Record("WrongSquare", y, [t[0]], g => [g * t[0].Detach()]);
        }
        var report = GradCheck.Run(F, [x]);
        Assert.NotNull(report);
        Assert.Contains("input 0", report);
        Assert.Contains("element (1)", report);
    }

    [Fact]
    public void SmallCompositeGradChecks()
    {
        var rng = new Random(1);
        var a = GradGen.Leaf(rng, [3, 4]);
        var b = GradGen.Leaf(rng, [4, 2]);
        var c = GradGen.Leaf(rng, [2]);
        GradGen.AssertGrads("matmul+bias+tanh+mean", t => (t[0].MatMul(t[1]) + t[2]).Tanh().Mean(), a, b, c);
    }
}
