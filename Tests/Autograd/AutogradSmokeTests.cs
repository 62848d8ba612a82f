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

    /// <summary>An eps inside instead of outside a square root, or any gradient off by 0.1 %, fails at float64's
    /// tolerance (the old 1e-3 relative tolerance let both pass).</summary>
    [Theory]
    [InlineData(1.001)]
    [InlineData(0.9999)]
    public void GradCheckCatchesASmallRelativeError(double factor)
    {
        var x = Tensor.FromArray(new double[] { 0.5, 1.5, -0.7 }, [3]).RequireGrad();
        Tensor F(Tensor[] t)
        {
            var y = t[0].Detach().Exp();
            return Differentiable.Record("ScaledExp", y, [t[0]], g => [g * y * factor]);
        }
        var report = GradCheck.Run(F, [x]);
        Assert.NotNull(report);
        Assert.Contains("along a random direction", report);
        Assert.Null(GradCheck.Run(t => t[0].Exp(), [x]));
    }

    /// <summary>The cotangent and the direction come from the case's values: two cases do not share one (so a rule that
    /// is wrong only orthogonally to one fixed cotangent cannot pass them all), and a case replays with its own.</summary>
    [Fact]
    public void GradCheckDrawsACotangentPerCase()
    {
        static Tensor Wrong(Tensor[] t) => Differentiable.Record("Half", t[0].Detach() * 2.0, [t[0]], g => [g]);
        static Tensor Leaf(double a, double b) => Tensor.FromArray(new double[] { a, b }).RequireGrad();
        static string SeedOf(string? report) => report![report!.IndexOf("seed ", StringComparison.Ordinal)..].Split(')')[0];
        string r1 = SeedOf(GradCheck.Run(Wrong, [Leaf(1, 2)])), r2 = SeedOf(GradCheck.Run(Wrong, [Leaf(3, 4)]));
        Assert.NotEqual(r1, r2);
        Assert.Equal(r1, SeedOf(GradCheck.Run(Wrong, [Leaf(1, 2)])));
        Assert.Contains("seed 7", GradCheck.Run(Wrong, [Leaf(1, 2)], seed: 7));
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
