using Sparkle.Tensors.Autograd;
using Sparkle.Tensors.Backend;

namespace Sparkle.Tensors;

/// <summary>Elementwise unary ops. Transcendental ops turn integer tensors into float32 (like torch);
/// sign/abs/square/relu/clamp keep integer dtypes; bool tensors are rejected (convert them first).</summary>
public sealed partial class Tensor
{
    public Tensor Neg() => UnaryCore("Neg", UnaryOp.Neg);
    public Tensor Abs() => UnaryCore("Abs", UnaryOp.Abs);
    public Tensor Square() => UnaryCore("Square", UnaryOp.Square);
    public Tensor Exp() => UnaryCore("Exp", UnaryOp.Exp);
    /// <summary>Natural logarithm (NaN below 0, -inf at 0).</summary>
    public Tensor Log() => UnaryCore("Log", UnaryOp.Log);
    public Tensor Sqrt() => UnaryCore("Sqrt", UnaryOp.Sqrt);
    /// <summary>1 / sqrt(x), correctly rounded twice (not the hardware estimate).</summary>
    public Tensor Rsqrt() => UnaryCore("Rsqrt", UnaryOp.Rsqrt);
    public Tensor Relu() => UnaryCore("Relu", UnaryOp.Relu);
    /// <summary>min(max(x, 0), 6).</summary>
    public Tensor Relu6() => UnaryCore("Relu6", UnaryOp.Relu6);
    /// <summary>Exact GELU: x * 0.5 * (1 + erf(x / sqrt 2)) (torch's approximate="none").</summary>
    public Tensor Gelu() => UnaryCore("Gelu", UnaryOp.Gelu);
    public Tensor Sigmoid() => UnaryCore("Sigmoid", UnaryOp.Sigmoid);
    public Tensor Tanh() => UnaryCore("Tanh", UnaryOp.Tanh);
    public Tensor Erf() => UnaryCore("Erf", UnaryOp.Erf);

    /// <summary>x ^ p. Integer tensors stay integer for integral p &gt;= 0 (exact); otherwise the result is floating.</summary>
    public Tensor Pow(double p)
    {
        if (!DType.IsFloating() && Promotion.IsIntegral(p) && p >= 0)
            return (DType == DType.Bool ? To(DType.Int64) : this).UnaryCore("Pow", UnaryOp.PowScalar, p);
        return AsFloating().UnaryCore("Pow", UnaryOp.PowScalar, p);
    }

    /// <summary>min(max(x, min), max) with either bound optional (torch.clamp; max wins when min &gt; max).
    /// Integer tensors with a non-integral bound become float32.</summary>
    public Tensor Clamp(double? min = null, double? max = null)
    {
        if (min is null && max is null)
            throw new ArgumentException($"Clamp: give at least one of min and max (tensor {ShapeUtil.Format(Shape)}).");
        double lo = min ?? double.NegativeInfinity, hi = max ?? double.PositiveInfinity;
        var src = this;
        if (!DType.IsFloating() && ((min is double a && !Promotion.IsIntegral(a)) || (max is double b && !Promotion.IsIntegral(b))))
            src = To(DType.Float32);
        return src.UnaryCore("Clamp", UnaryOp.Clamp, lo, hi);
    }

    /// <summary>Bool tensor: true where the value is neither NaN nor ±infinity (always true for integers).</summary>
    public Tensor IsFinite()
    {
        var dst = NewEmpty(Shape, DType.Bool);
        if (DType.IsFloating()) Backend.Unary(UnaryOp.IsFinite, this, dst);
        else if (dst.NumElements > 0) Backend.Fill(dst, 1);
        return dst;
    }

    private Tensor AsFloating() => DType.IsFloating() ? this : To(DType.Float32);

    private Tensor UnaryCore(string name, UnaryOp op, double p0 = 0, double p1 = 0)
    {
        if (GradHook.Wants(this))
        {
            Tensor raw;
            using (GradHook.Pause()) raw = UnaryCore(name, op, p0, p1);
            return GradHook.Recorder!.Unary(op, this, p0, p1, raw);
        }
        var src = this;
        if (op.NeedsFloat()) src = AsFloating();
        else if (DType == DType.Bool)
            throw new InvalidOperationException($"{name} is not defined for a bool tensor {ShapeUtil.Format(Shape)}; convert it with To(DType) first.");
        var dst = src.NewEmpty(Shape, src.DType);
        Backend.Unary(op, src, dst, p0, p1);
        return dst;
    }
}
