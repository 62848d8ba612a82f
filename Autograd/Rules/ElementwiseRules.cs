using Sparkle.Tensors;
using Sparkle.Tensors.Backend;
using static Sparkle.Autograd.Rules.GradUtil;

namespace Sparkle.Autograd.Rules;

/// <summary>
/// Gradients of the elementwise ops (forward: Tensor.Elementwise*.cs). Conventions follow PyTorch's
/// derivatives.yaml: max/min split ties evenly, abs'(0) = 0, relu'(0) = 0, clamp passes the gradient where
/// min &lt;= x &lt;= max, relu6 where 0 &lt; x &lt; 6 (hardtanh), pow's exponent gradient is 0 where the base is
/// 0 and the exponent is non-negative.
/// Each rule is its own method so that its closure captures only the tensors its backward reads: a lambda
/// capturing more would keep those activations alive until the backward pass.
/// </summary>
internal static class ElementwiseRules
{
    /// <summary>Where an input's gradient goes: its shape and dtype, and whether it is wanted at all.</summary>
    private readonly record struct Target(int[] Shape, DType DType, bool Needed)
    {
        public static Target Of(Tensor t) => new(t.ShapeArray(), t.DType, t.RequiresGrad);
        public Tensor? Grad(Tensor g) => Needed ? For(g, Shape, DType) : null;
        public Tensor? Grad(Func<Tensor> g) => Needed ? For(g(), Shape, DType) : null;
    }

    public static Tensor Binary(BinaryOp op, Tensor a, Tensor b, Tensor y) => op switch
    {
        BinaryOp.Add => Add(a, b, y),
        BinaryOp.Sub => Sub(a, b, y),
        BinaryOp.Mul => Mul(a, b, y),
        BinaryOp.Div => Div(a, b, y),
        BinaryOp.Pow => Pow(a, b, y),
        BinaryOp.Maximum => MaxMin("Maximum", a, b, y, BinaryOp.Gt),
        BinaryOp.Minimum => MaxMin("Minimum", a, b, y, BinaryOp.Lt),
        _ => throw new NotSupportedException($"No gradient rule for the binary op {op}."),
    };

    private static Tensor Add(Tensor a, Tensor b, Tensor y)
    {
        var (ta, tb) = (Target.Of(a), Target.Of(b));
        return Differentiable.Record("Add", y, [a, b], g => [ta.Grad(g), tb.Grad(g)]);
    }

    private static Tensor Sub(Tensor a, Tensor b, Tensor y)
    {
        var (ta, tb) = (Target.Of(a), Target.Of(b));
        return Differentiable.Record("Sub", y, [a, b], g => [ta.Grad(g), tb.Grad(() => g.Neg())]);
    }

    private static Tensor Mul(Tensor a, Tensor b, Tensor y)
    {
        var (ta, tb) = (Target.Of(a), Target.Of(b));
        return Differentiable.Record("Mul", y, [a, b], g => [ta.Grad(() => g * b), tb.Grad(() => g * a)], a, b);
    }

    private static Tensor Div(Tensor a, Tensor b, Tensor y)
    {
        var (ta, tb) = (Target.Of(a), Target.Of(b));
        return Differentiable.Record("Div", y, [a, b], g => [ta.Grad(() => g / b), tb.Grad(() => g.Neg() * a / b.Square())], a, b);
    }

    private static Tensor Pow(Tensor a, Tensor b, Tensor y)
    {
        var (ta, tb) = (Target.Of(a), Target.Of(b));
        return Differentiable.Record("Pow", y, [a, b], g => [
            ta.Grad(() => Tensor.Where(b.Eq(0), 0.0, g * b * a.Pow(b - 1))),
            tb.Grad(() => Tensor.Where(a.Eq(0).LogicalAnd(b.Ge(0)), 0.0, g * y * a.Log()))], a, b, y);
    }

    /// <summary>torch's max/min backward: the winner gets the gradient, a tie gives half to each.</summary>
    private static Tensor MaxMin(string name, Tensor a, Tensor b, Tensor y, BinaryOp wins)
    {
        var (ta, tb) = (Target.Of(a), Target.Of(b));
        return Differentiable.Record(name, y, [a, b], g =>
        {
            var half = a.Eq(b).To(g.DType) * 0.5;
            var aWins = (wins == BinaryOp.Gt ? a.Gt(b) : a.Lt(b)).To(g.DType) + half;
            var bWins = (wins == BinaryOp.Gt ? b.Gt(a) : b.Lt(a)).To(g.DType) + half;
            return [ta.Grad(() => g * aWins), tb.Grad(() => g * bWins)];
        }, a, b);
    }

    public static Tensor Unary(UnaryOp op, Tensor x, double p0, double p1, Tensor y)
    {
        const double TwoOverSqrtPi = 1.1283791670955126;   // 2 / sqrt(pi)
        const double InvSqrt2Pi = 0.3989422804014327;      // 1 / sqrt(2 pi)
        const double InvSqrt2 = 0.7071067811865476;
        return op switch
        {
            UnaryOp.Neg => Plain("Neg", x, y, static g => g.Neg()),
            UnaryOp.Abs => FromInput("Abs", x, y, static (g, x) => g * (x.Gt(0).To(x.DType) - x.Lt(0).To(x.DType))),
            UnaryOp.Square => FromInput("Square", x, y, static (g, x) => g * x * 2.0),
            UnaryOp.Log => FromInput("Log", x, y, static (g, x) => g / x),
            // Select, not multiply (torch's threshold_backward), in one pass: a masked-out position gets 0 even where
            // g is inf/NaN. From the output: 0 < relu6(x) < 6 exactly where 0 < x < 6, and saving the output lets
            // the input (usually a BN output) die in the forward — the next op (a conv) saves the output anyway.
            UnaryOp.Relu6 => FromOutput("Relu6", x, y, static (g, y) => Tensor.Relu6Backward(g, y)),
            UnaryOp.Gelu => FromInput("Gelu", x, y, static (g, x) =>
                g * (((x * InvSqrt2).Erf() + 1.0) * 0.5 + x * (x.Square() * -0.5).Exp() * InvSqrt2Pi)),
            UnaryOp.Erf => FromInput("Erf", x, y, static (g, x) => g * x.Square().Neg().Exp() * TwoOverSqrtPi),
            UnaryOp.PowScalar when p0 == 0 => Plain("Pow", x, y, static g => Tensor.ZerosLike(g)),
            UnaryOp.PowScalar => FromInput("Pow", x, y, (g, x) => g * x.Pow(p0 - 1) * p0),
            UnaryOp.Clamp => FromInput("Clamp", x, y, (g, x) => g * x.Ge(p0).LogicalAnd(x.Le(p1)).To(x.DType)),
            UnaryOp.Exp => FromOutput("Exp", x, y, static (g, y) => g * y),
            UnaryOp.Sqrt => FromOutput("Sqrt", x, y, static (g, y) => g / (y * 2.0)),
            UnaryOp.Rsqrt => FromOutput("Rsqrt", x, y, static (g, y) => g * y.Pow(3) * -0.5),
            UnaryOp.Relu => FromOutput("Relu", x, y, static (g, y) => Tensor.ReluBackward(g, y)),
            UnaryOp.Sigmoid => FromOutput("Sigmoid", x, y, static (g, y) => g * y * (1.0 - y)),
            UnaryOp.Tanh => FromOutput("Tanh", x, y, static (g, y) => g * (1.0 - y.Square())),
            // Scale and Reciprocal have no rule: they are backend-only ops (in-place Add_ with alpha, ILGPU's Pow(-1)
            // kernel) that no recorded tensor op emits; a rule for them would be dead, untestable code.
            _ => throw new NotSupportedException($"No gradient rule for the unary op {op}."),
        };
    }

    private static Tensor Plain(string name, Tensor x, Tensor y, Func<Tensor, Tensor> rule)
        => Differentiable.Record(name, y, [x], g => [rule(g)]);

    /// <summary>A rule that reads the input only (the output may be freed).</summary>
    private static Tensor FromInput(string name, Tensor x, Tensor y, Func<Tensor, Tensor, Tensor> rule)
        => Differentiable.Record(name, y, [x], g => [rule(g, x)], x);

    /// <summary>A rule that reads the output only (the input may be freed).</summary>
    private static Tensor FromOutput(string name, Tensor x, Tensor y, Func<Tensor, Tensor, Tensor> rule)
        => Differentiable.Record(name, y, [x], g => [rule(g, y)], y);
}
