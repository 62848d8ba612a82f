using Sparkle.Tensors.Autograd;
using Sparkle.Tensors.Backend;

namespace Sparkle.Tensors;

/// <summary>
/// Binary arithmetic with NumPy broadcasting and PyTorch dtype promotion (<see cref="Promotion"/>), and the
/// operators. Unary ops are in Tensor.Elementwise.Unary.cs, comparisons/logic/where in
/// Tensor.Elementwise.Logic.cs, in-place ops in Tensor.Elementwise.InPlace.cs.
/// </summary>
public sealed partial class Tensor
{
    public Tensor Add(Tensor other) => Arith("Add", BinaryOp.Add, this, other);
    public Tensor Add(double scalar) => Arith("Add", BinaryOp.Add, this, scalar);
    public Tensor Sub(Tensor other) => Arith("Sub", BinaryOp.Sub, this, other);
    public Tensor Sub(double scalar) => Arith("Sub", BinaryOp.Sub, this, scalar);
    public Tensor Mul(Tensor other) => Arith("Mul", BinaryOp.Mul, this, other);
    public Tensor Mul(double scalar) => Arith("Mul", BinaryOp.Mul, this, scalar);

    /// <summary>True division (integers divide in float32, like torch.div).</summary>
    public Tensor Div(Tensor other) => BinaryCore("Div", BinaryOp.Div, this, other, Promotion.TrueDivision(Promotion.Tensors(DType, other.DType)));
    public Tensor Div(double scalar) => BinaryCore("Div", BinaryOp.Div, this, ScalarFor(scalar, out var dt), Promotion.TrueDivision(dt));

    /// <summary>Elementwise power; integer tensors stay integer (negative exponents give 0 unless the base is ±1).</summary>
    public Tensor Pow(Tensor exponent) => Arith("Pow", BinaryOp.Pow, this, exponent);

    /// <summary>Elementwise maximum; NaN propagates.</summary>
    public Tensor Maximum(Tensor other) => Arith("Maximum", BinaryOp.Maximum, this, other);
    public Tensor Maximum(double scalar) => Arith("Maximum", BinaryOp.Maximum, this, scalar);
    public Tensor Minimum(Tensor other) => Arith("Minimum", BinaryOp.Minimum, this, other);
    public Tensor Minimum(double scalar) => Arith("Minimum", BinaryOp.Minimum, this, scalar);

    /// <summary>ReLU backward in one pass: <paramref name="grad"/> where <paramref name="output"/> &gt; 0, else 0.</summary>
    internal static Tensor ReluBackward(Tensor grad, Tensor output) => Arith("ReluBackward", BinaryOp.ReluBackward, grad, output);

    /// <summary>ReLU6 backward in one pass: <paramref name="grad"/> where 0 &lt; <paramref name="x"/> &lt; 6, else 0;
    /// <paramref name="x"/> may be the input or the output (the test is the same).</summary>
    internal static Tensor Relu6Backward(Tensor grad, Tensor x) => Arith("Relu6Backward", BinaryOp.Relu6Backward, grad, x);

    public static Tensor operator +(Tensor a, Tensor b) => a.Add(b);
    public static Tensor operator +(Tensor a, double b) => a.Add(b);
    public static Tensor operator +(double a, Tensor b) => b.Add(a);
    public static Tensor operator -(Tensor a, Tensor b) => a.Sub(b);
    public static Tensor operator -(Tensor a, double b) => a.Sub(b);
    public static Tensor operator -(double a, Tensor b) => Arith("Sub", BinaryOp.Sub, a, b);
    public static Tensor operator *(Tensor a, Tensor b) => a.Mul(b);
    public static Tensor operator *(Tensor a, double b) => a.Mul(b);
    public static Tensor operator *(double a, Tensor b) => b.Mul(a);
    public static Tensor operator /(Tensor a, Tensor b) => a.Div(b);
    public static Tensor operator /(Tensor a, double b) => a.Div(b);
    public static Tensor operator /(double a, Tensor b) => BinaryCore("Div", BinaryOp.Div, b.ScalarFor(a, out var dt), b, Promotion.TrueDivision(dt));
    public static Tensor operator -(Tensor a) => a.Neg();

    // ---- shared machinery of the elementwise family ----

    private static Tensor Arith(string name, BinaryOp op, Tensor a, Tensor b)
        => BinaryCore(name, op, a, b, Promotion.Arithmetic(Promotion.Tensors(a.DType, b.DType)));

    private static Tensor Arith(string name, BinaryOp op, Tensor a, double b)
        => BinaryCore(name, op, a, a.ScalarFor(b, out var dt), Promotion.Arithmetic(dt));

    private static Tensor Arith(string name, BinaryOp op, double a, Tensor b)
        => BinaryCore(name, op, b.ScalarFor(a, out var dt), b, Promotion.Arithmetic(dt));

    /// <summary>A 0-d tensor for a scalar operand on this tensor's device, and the dtype the pair computes in.</summary>
    private Tensor ScalarFor(double value, out DType computeType)
    {
        computeType = Promotion.WithScalar(DType, value);
        return Scalar(value, computeType, Device);
    }

    /// <summary>Broadcasts a and b, converts both to <paramref name="compute"/>, runs the backend op into a
    /// fresh contiguous result (bool for comparisons and logic).</summary>
    private static Tensor BinaryCore(string name, BinaryOp op, Tensor a, Tensor b, DType compute)
    {
        if (GradHook.Wants(a, b) && op < BinaryOp.Eq)
        {
            Tensor raw;
            using (GradHook.Pause()) raw = BinaryCore(name, op, a, b, compute);
            return GradHook.Recorder!.Binary(op, a, b, raw);
        }
        CheckSameDevice(name, a, b);
        var shape = BroadcastShape(name, a.Shape, b.Shape);
        var resultType = op.IsComparison() || op is BinaryOp.And or BinaryOp.Or ? DType.Bool : compute;
        var dst = Empty(shape, resultType, a.Backend);
        a.Backend.Binary(op, a.To(compute).Expand(shape), b.To(compute).Expand(shape), dst);
        return dst;
    }

    internal static int[] BroadcastShape(string name, ReadOnlySpan<int> a, ReadOnlySpan<int> b)
    {
        try { return ShapeUtil.Broadcast(a, b); }
        catch (ArgumentException e) { throw new ArgumentException($"{name}: {e.Message}", e); }
    }
}
