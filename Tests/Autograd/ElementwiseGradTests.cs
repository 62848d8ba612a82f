using FsCheck.Xunit;
using Sparkle.Tensors;
using Sparkle.Tests.Support;
using Xunit;

namespace Sparkle.Tests.Autograd;

/// <summary>
/// Gradients of the elementwise ops (Autograd/Rules/ElementwiseRules.cs): binary ops with broadcasting in both
/// operand orders, scalar forms, unary ops, checked against float64 central differences on random shapes and
/// leaf layouts; PyTorch's conventions at kinks as exact values; dtype promotion; float32 against float64.
/// </summary>
public class ElementwiseGradTests
{
    // ---- inputs ----

    private static int[] SmallShape(Random rng) => TensorGen.RandomShape(rng, 0, 3, 4);

    /// <summary>A float64 tensor in a random leaf layout with values uniform in [lo, hi], pushed at least margin
    /// away from each kink in <paramref name="avoid"/>; requires grad when <paramref name="grad"/>.</summary>
    private static Tensor Uniform(Random rng, int[] shape, double lo, double hi, bool grad = true, double margin = 0, params double[] avoid)
    {
        var t = TensorGen.Random(rng, shape, DType.Float64, GradGen.LeafLayouts[rng.Next(GradGen.LeafLayouts.Length)]);
        foreach (var idx in TensorGen.Indices(shape))
        {
            double v = lo + (hi - lo) * rng.NextDouble();
            foreach (double k in avoid)
                if (Math.Abs(v - k) < margin) v = k + (v >= k ? margin : -margin) * (1 + rng.NextDouble());
            t.Set(v, idx);
        }
        return grad ? t.RequireGrad() : t;
    }

    /// <summary>Values on the grid -2 + 0.1 k + offset (+ up to 0.01 jitter): two such tensors with offsets 0 and
    /// 0.05 never tie and differ by at least 0.04 anywhere, and either can win (for Maximum/Minimum).</summary>
    private static Tensor Grid(Random rng, int[] shape, double offset, bool grad)
    {
        var t = TensorGen.Random(rng, shape, DType.Float64, GradGen.LeafLayouts[rng.Next(GradGen.LeafLayouts.Length)]);
        foreach (var idx in TensorGen.Indices(shape)) t.Set(-2 + 0.1 * rng.Next(0, 40) + offset + 0.01 * rng.NextDouble(), idx);
        return grad ? t.RequireGrad() : t;
    }

    private static string Fmt(int[] s) => ShapeUtil.Format(s);

    // ---- binary ops with broadcasting ----

    public static readonly string[] BinaryOps = ["Add", "Sub", "Mul", "Div", "Pow", "Maximum", "Minimum"];

    private static Tensor ApplyBinary(string op, Tensor a, Tensor b) => op switch
    {
        "Add" => a + b,
        "Sub" => a - b,
        "Mul" => a * b,
        "Div" => a / b,
        "Pow" => a.Pow(b),
        "Maximum" => a.Maximum(b),
        "Minimum" => a.Minimum(b),
        _ => throw new ArgumentException(op),
    };

    /// <summary>Operands in each op's domain: Div's denominator |b| &gt;= 0.5, Pow's base in [0.5, 2],
    /// Maximum/Minimum on interleaved grids (no ties, gaps &gt; 1e-3).</summary>
    private static (Tensor A, Tensor B) BinaryOperands(Random rng, string op, int[] sa, int[] sb, bool gradA, bool gradB) => op switch
    {
        "Div" => (Uniform(rng, sa, -2, 2, gradA), Uniform(rng, sb, -2, 2, gradB, 0.5, 0)),
        "Pow" => (Uniform(rng, sa, 0.5, 2, gradA), Uniform(rng, sb, -2, 2, gradB)),
        "Maximum" or "Minimum" => (Grid(rng, sa, 0, gradA), Grid(rng, sb, 0.05, gradB)),
        _ => (Uniform(rng, sa, -2, 2, gradA), Uniform(rng, sb, -2, 2, gradB)),
    };

    [Property(MaxTest = 40)]
    public void BinaryOpsWithBroadcastingGradCheck(long seed)
    {
        var rng = new SeededRandom(seed);
        var shape = SmallShape(rng);
        var partner = TensorGen.BroadcastPartner(rng, shape);
        foreach (var op in BinaryOps)
            foreach (bool swap in new[] { false, true })
            {
                var (sa, sb) = swap ? (partner, shape) : (shape, partner);
                var (a, b) = BinaryOperands(rng, op, sa, sb, true, true);
                GradGen.AssertGrads($"{op} {Fmt(sa)} with {Fmt(sb)} (seed {seed})", t => ApplyBinary(op, t[0], t[1]), a, b);
            }
    }

    /// <summary>Only one operand requires grad: its gradient is right (reduced to its shape) and the other
    /// operand's Grad stays null after a backward.</summary>
    [Property(MaxTest = 30)]
    public void BinaryOpsWithOneOperandRequiringGrad(long seed)
    {
        var rng = new SeededRandom(seed);
        var shape = SmallShape(rng);
        var partner = TensorGen.BroadcastPartner(rng, shape);
        foreach (var op in BinaryOps)
            foreach (bool swap in new[] { false, true })
                foreach (bool gradA in new[] { true, false })
                {
                    var (sa, sb) = swap ? (partner, shape) : (shape, partner);
                    var (a, b) = BinaryOperands(rng, op, sa, sb, gradA, !gradA);
                    var (leaf, plain) = gradA ? (a, b) : (b, a);
                    string what = $"{op} {Fmt(sa)} with {Fmt(sb)}, only {(gradA ? "a" : "b")} requires grad (seed {seed})";
                    GradGen.AssertGrads(what, t => ApplyBinary(op, t[0], t[1]), a, b);

                    var y = ApplyBinary(op, a, b);
                    Assert.True(y.RequiresGrad, what);
                    y.Backward(Tensor.OnesLike(y));
                    Assert.Null(plain.Grad);
                    Assert.False(plain.RequiresGrad, what);
                    Assert.NotNull(leaf.Grad);
                    Check.Shape(leaf.Grad!, leaf.ShapeArray());
                }
    }

    // ---- scalar forms ----

    [Property(MaxTest = 40)]
    public void ScalarFormsGradCheck(long seed)
    {
        var rng = new SeededRandom(seed);
        var shape = SmallShape(rng);
        double s = Math.Round(rng.NextDouble() * 3 - 1.5, 3);
        double nonzero = (rng.Next(2) == 0 ? -1 : 1) * (0.5 + 1.5 * rng.NextDouble());
        var cases = new (string Name, Func<Tensor> Input, Func<Tensor, Tensor> F)[]
        {
            ("x + 2.5", () => GradGen.Leaf(rng, shape), x => x + 2.5),
            ("2.5 + x", () => GradGen.Leaf(rng, shape), x => 2.5 + x),
            ("x - s", () => GradGen.Leaf(rng, shape), x => x - s),
            ("s - x", () => GradGen.Leaf(rng, shape), x => s - x),
            ("x * s", () => GradGen.Leaf(rng, shape), x => x * s),
            ("s * x", () => GradGen.Leaf(rng, shape), x => s * x),
            ("x / s", () => GradGen.Leaf(rng, shape), x => x / nonzero),
            ("s / x", () => GradGen.LeafAwayFrom(rng, shape, 0.5, 0), x => s / x),
            ("Maximum(s)", () => GradGen.LeafAwayFrom(rng, shape, 0.05, s), x => x.Maximum(s)),
            ("Minimum(s)", () => GradGen.LeafAwayFrom(rng, shape, 0.05, s), x => x.Minimum(s)),
            ("-x", () => GradGen.Leaf(rng, shape), x => -x),
        };
        foreach (var (name, input, f) in cases)
            GradGen.AssertGrads($"{name} {Fmt(shape)} s={s} (seed {seed})", t => f(t[0]), input());
    }

    // ---- unary ops ----

    [Property(MaxTest = 40)]
    public void UnaryOpsGradCheck(long seed)
    {
        var rng = new SeededRandom(seed);
        var shape = SmallShape(rng);
        double lo = -1.5 + rng.NextDouble(), hi = 0.3 + rng.NextDouble();   // lo in [-1.5, -0.5), hi in [0.3, 1.3)
        const double M = 0.05;
        var cases = new (string Name, Func<Tensor> Input, Func<Tensor, Tensor> F)[]
        {
            ("Neg", () => GradGen.Leaf(rng, shape), x => x.Neg()),
            ("Abs", () => GradGen.LeafAwayFrom(rng, shape, M, 0), x => x.Abs()),
            ("Square", () => GradGen.Leaf(rng, shape), x => x.Square()),
            ("Exp", () => GradGen.Leaf(rng, shape), x => x.Exp()),
            ("Log", () => Uniform(rng, shape, 0.2, 3), x => x.Log()),
            ("Sqrt", () => Uniform(rng, shape, 0.2, 3), x => x.Sqrt()),
            ("Rsqrt", () => Uniform(rng, shape, 0.2, 3), x => x.Rsqrt()),
            ("Relu", () => GradGen.LeafAwayFrom(rng, shape, M, 0), x => x.Relu()),
            ("Relu6", () => Uniform(rng, shape, -2, 8, true, M, 0, 6), x => x.Relu6()),
            ("Gelu", () => Uniform(rng, shape, -4, 4), x => x.Gelu()),
            ("Sigmoid", () => Uniform(rng, shape, -4, 4), x => x.Sigmoid()),
            ("Tanh", () => GradGen.Leaf(rng, shape), x => x.Tanh()),
            ("Erf", () => GradGen.Leaf(rng, shape), x => x.Erf()),
            ("Pow(2)", () => GradGen.Leaf(rng, shape), x => x.Pow(2)),
            ("Pow(3)", () => GradGen.Leaf(rng, shape), x => x.Pow(3)),
            ("Pow(0.5)", () => Uniform(rng, shape, 0.2, 3), x => x.Pow(0.5)),
            ("Pow(-1)", () => GradGen.LeafAwayFrom(rng, shape, 0.5, 0), x => x.Pow(-1)),
            ("Pow(0)", () => GradGen.Leaf(rng, shape), x => x.Pow(0)),
            ("Clamp(lo, hi)", () => GradGen.LeafAwayFrom(rng, shape, M, lo, hi), x => x.Clamp(lo, hi)),
            ("Clamp(lo)", () => GradGen.LeafAwayFrom(rng, shape, M, lo), x => x.Clamp(min: lo)),
            ("Clamp(max: hi)", () => GradGen.LeafAwayFrom(rng, shape, M, hi), x => x.Clamp(max: hi)),
        };
        foreach (var (name, input, f) in cases)
            GradGen.AssertGrads($"{name} {Fmt(shape)} lo={lo} hi={hi} (seed {seed})", t => f(t[0]), input());
    }

    // ---- PyTorch's conventions at kinks, exact values ----

    private static Tensor Vec(params double[] v) => Tensor.FromArray(v).RequireGrad();

    /// <summary>d/dx sum(f(x)) for a float64 vector, by Backward.</summary>
    private static Tensor GradOf(Func<Tensor, Tensor> f, params double[] x)
    {
        var t = Vec(x);
        f(t).Sum().Backward();
        Assert.NotNull(t.Grad);
        return t.Grad!;
    }

    [Fact]
    public void ReluAtZeroHasGradientZero() => Check.Close([0, 0, 1], GradOf(x => x.Relu(), -1, 0, 2), 0, 0, "relu'");

    [Fact]
    public void AbsAtZeroHasGradientZero() => Check.Close([-1, 0, 1], GradOf(x => x.Abs(), -1, 0, 2), 0, 0, "abs'");

    [Fact]
    public void Relu6AtZeroAndSixHasGradientZero()
        => Check.Close([0, 0, 1, 0, 0], GradOf(x => x.Relu6(), -1, 0, 3, 6, 7), 0, 0, "relu6'");

    [Fact]
    public void ClampAtItsBoundsPassesTheGradient()
    {
        Check.Close([0, 1, 1, 1, 0], GradOf(x => x.Clamp(0, 1), -1, 0, 0.5, 1, 2), 0, 0, "clamp(0, 1)'");
        Check.Close([0, 1, 1], GradOf(x => x.Clamp(min: 0), -1, 0, 2), 0, 0, "clamp(min 0)'");
        Check.Close([1, 1, 0], GradOf(x => x.Clamp(max: 1), -1, 1, 2), 0, 0, "clamp(max 1)'");
    }

    [Fact]
    public void PowZeroHasGradientZeroEverywhere()
        => Check.Close([0, 0, 0, 0], GradOf(x => x.Pow(0), 0, 2, -3, 0.5), 0, 0, "pow(x, 0)'");

    [Fact]
    public void MaximumAndMinimumSplitTiesEvenly()
    {
        foreach (var op in new[] { "Maximum", "Minimum" })
        {
            var a = Vec(1, 2, 3);
            var b = Vec(1, 0, 4);
            ApplyBinary(op, a, b).Sum().Backward();
            bool max = op == "Maximum";
            Check.Close(max ? [0.5, 1, 0] : [0.5, 0, 1], a.Grad!, 0, 0, $"{op} grad a");
            Check.Close(max ? [0.5, 0, 1] : [0.5, 1, 0], b.Grad!, 0, 0, $"{op} grad b");
        }
        // a scalar operand tying with the tensor: the tensor gets half
        Check.Close([0.5, 1, 0], GradOf(x => x.Maximum(1.0), 1, 2, 0), 0, 0, "Maximum(1)'");
        // broadcast: the tie halves are summed into the broadcast operand
        var c = Vec(2);
        var d = Vec(2, 2, 1);
        c.Reshape([]).Maximum(d).Sum().Backward();
        Check.Close([0.5 + 0.5 + 1], c.Grad!, 0, 0, "Maximum broadcast grad c");
        Check.Close([0.5, 0.5, 0], d.Grad!, 0, 0, "Maximum broadcast grad d");
    }

    [Fact]
    public void PowOfZeroBaseHasFiniteExponentGradient()
    {
        // torch: d(a^b)/db = a^b log a, but 0 where a == 0 and b >= 0 (not 0 * -inf = NaN)
        var a = Vec(0, 0, 2, 0);
        var b = Vec(2, 0, 3, 0.5);
        a.Pow(b).Sum().Backward();
        // d/da = b a^(b-1), and 0 where b == 0; at a = 0, b = 0.5 it is +inf like torch
        Check.Close([0, 0, 12, double.PositiveInfinity], a.Grad!, 1e-12, 0, "pow grad base");
        Check.Close([0, 0, 8 * Math.Log(2), 0], b.Grad!, 1e-12, 0, "pow grad exponent");
    }

    // ---- dtypes ----

    [Fact]
    public void Float32LeafTimesFloat64TensorGetsAFloat32Gradient()
    {
        var a = Tensor.FromArray(new float[] { 1.5f, -2f, 0.25f, 3f, 0.5f, -1f }, [2, 3]).RequireGrad();
        var b = Tensor.FromArray(new double[] { 0.1, -0.7, 2.3 });
        var y = a * b;
        Assert.Equal(DType.Float64, y.DType);
        Assert.True(y.RequiresGrad);
        var v = Tensor.FromArray(new double[] { 1, 2, 3, -1, 0.5, 4 }, [2, 3]);
        y.Backward(v);
        Assert.Equal(DType.Float32, a.Grad!.DType);
        Check.Shape(a.Grad, 2, 3);
        // d(v·(a*b))/da = v * b (broadcast over rows)
        Check.Close([0.1, -1.4, 6.9, -0.1, -0.35, 9.2], a.Grad, 1e-6, 1e-7, "float32 grad of a");
        Assert.Null(b.Grad);

        // broadcast the other way, both requiring grad: a's gradient is summed over b's rows, still float32
        var a2 = Tensor.FromArray(new float[] { 0.5f, -1.25f }).RequireGrad();
        var b2 = Tensor.FromArray(new double[] { 1, 2, 3, 4, 5, 6 }, [3, 2]).RequireGrad();
        (a2 * b2).Sum().Backward();
        Assert.Equal(DType.Float32, a2.Grad!.DType);
        Assert.Equal(DType.Float64, b2.Grad!.DType);
        Check.Close([1 + 3 + 5, 2 + 4 + 6], a2.Grad, 0, 0, "float32 grad of a2");
        Check.Close([0.5, -1.25, 0.5, -1.25, 0.5, -1.25], b2.Grad, 0, 0, "float64 grad of b2");

        // Add and Sub pass the gradient through unchanged, but it must still come back as float32
        foreach (var op in new[] { "Add", "Sub" })
        {
            var a3 = Tensor.FromArray(new float[] { 1, 2 }).RequireGrad();
            var b3 = Tensor.FromArray(new double[] { 0.5, 0.25, -1, 2 }, [2, 2]).RequireGrad();
            var y3 = ApplyBinary(op, b3, a3);
            Assert.Equal(DType.Float64, y3.DType);
            y3.Backward(Tensor.FromArray(new double[] { 1, 2, 3, 4 }, [2, 2]));
            Assert.Equal(DType.Float32, a3.Grad!.DType);
            Check.Close(op == "Add" ? [4, 6] : [-4, -6], a3.Grad, 0, 0, $"float32 grad of a3 through {op}");
            Check.Close([1, 2, 3, 4], b3.Grad!, 0, 0, $"float64 grad of b3 through {op}");
        }
    }

    /// <summary>The float32 analytic gradient equals the float64 one at the same (float32-representable) point.</summary>
    [Property(MaxTest = 30)]
    public void Float32GradientsMatchFloat64(long seed)
    {
        var rng = new SeededRandom(seed);
        var shape = SmallShape(rng);
        var partner = TensorGen.BroadcastPartner(rng, shape);
        var unary = new (string Name, Func<Tensor, Tensor> F)[]
        {
            ("Tanh", x => x.Tanh()), ("Sigmoid", x => x.Sigmoid()), ("Gelu", x => x.Gelu()),
            ("Exp", x => x.Exp()), ("Erf", x => x.Erf()), ("Square", x => x.Square()),
        };
        foreach (var (name, f) in unary)
        {
            var x32 = TensorGen.Random(rng, shape, DType.Float32, GradGen.LeafLayouts[rng.Next(3)]);
            var x64 = x32.To(DType.Float64).RequireGrad();
            x32.RequireGrad();
            var v32 = TensorGen.Random(rng, shape, DType.Float32);
            f(x32).Backward(v32);
            f(x64).Backward(v32.To(DType.Float64));
            Assert.Equal(DType.Float32, x32.Grad!.DType);
            Check.Close(x64.Grad!.ToDoubleArray(), x32.Grad, 1e-5, 1e-6, $"{name} float32 vs float64 {Fmt(shape)} (seed {seed})");
        }
        foreach (var op in new[] { "Mul", "Div" })
        {
            var a32 = TensorGen.Random(rng, shape, DType.Float32, GradGen.LeafLayouts[rng.Next(3)]);
            var b32 = Uniform(rng, partner, 0.5, 2, grad: false).To(DType.Float32);
            var a64 = a32.To(DType.Float64).RequireGrad();
            var b64 = b32.To(DType.Float64).RequireGrad();
            a32.RequireGrad();
            b32.RequireGrad();
            var y32 = ApplyBinary(op, a32, b32);
            var v32 = TensorGen.Random(rng, y32.ShapeArray(), DType.Float32);
            y32.Backward(v32);
            ApplyBinary(op, a64, b64).Backward(v32.To(DType.Float64));
            string what = $"{op} float32 vs float64 {Fmt(shape)} with {Fmt(partner)} (seed {seed})";
            Check.Close(a64.Grad!.ToDoubleArray(), a32.Grad!, 1e-5, 1e-5, what + " grad a");
            Check.Close(b64.Grad!.ToDoubleArray(), b32.Grad!, 1e-5, 1e-5, what + " grad b");
        }
    }
}
