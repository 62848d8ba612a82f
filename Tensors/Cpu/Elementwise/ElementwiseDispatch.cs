using System.Numerics;
using Sparkle.Tensors.Backend;

namespace Sparkle.Tensors.Cpu.Elementwise;

/// <summary>Picks the op struct and element type once per call; the drivers do the rest.</summary>
internal static class ElementwiseDispatch
{
    /// <summary><paramref name="width"/>: the backend's vector width (<see cref="CpuKernelOptions.Width"/>).</summary>
    public static void Unary(UnaryOp op, Tensor x, Tensor dst, double p0, double p1, SimdWidth width)
    {
        if (op == UnaryOp.Not) { RequireBool("Not", x); UnaryDriver.Run<byte, NotOp>(width, default, x, dst); return; }
        if (op == UnaryOp.IsFinite)
        {
            switch (x.DType)
            {
                case DType.Float32: CompareDriver.RunPredicate<float, IsFiniteOp<float>>(width, default, x, dst); return;
                case DType.Float64: CompareDriver.RunPredicate<double, IsFiniteOp<double>>(width, default, x, dst); return;
                default: CpuBackend.Instance.Fill(dst, 1); return;
            }
        }
        switch (x.DType)
        {
            case DType.Float32: Unary<float>(op, x, dst, p0, p1, width); break;
            case DType.Float64: Unary<double>(op, x, dst, p0, p1, width); break;
            case DType.Int32: Unary<int>(op, x, dst, p0, p1, width); break;
            case DType.Int64: Unary<long>(op, x, dst, p0, p1, width); break;
            default: throw new NotSupportedException($"Unary {op} is not defined for {x.DType.Name()}.");
        }
    }

    private static void Unary<T>(UnaryOp op, Tensor x, Tensor dst, double p0, double p1, SimdWidth width) where T : unmanaged, INumber<T>
    {
        const int cheap = UnaryDriver.CheapGrain, costly = UnaryDriver.ExpensiveGrain;
        switch (op)
        {
            case UnaryOp.Neg: UnaryDriver.Run<T, NegOp<T>>(width, default, x, dst, cheap); break;
            case UnaryOp.Abs: UnaryDriver.Run<T, AbsOp<T>>(width, default, x, dst, cheap); break;
            case UnaryOp.Square: UnaryDriver.Run<T, SquareOp<T>>(width, default, x, dst, cheap); break;
            case UnaryOp.Relu: UnaryDriver.Run<T, ReluOp<T>>(width, default, x, dst, cheap); break;
            case UnaryOp.Relu6: UnaryDriver.Run<T, Relu6Op<T>>(width, default, x, dst, cheap); break;
            case UnaryOp.Clamp:
                UnaryDriver.Run<T, ClampOp<T>>(width, new(T.CreateSaturating(p0), T.CreateSaturating(p1)), x, dst, cheap); break;
            case UnaryOp.Scale: UnaryDriver.Run<T, ScaleOp<T>>(width, new(T.CreateSaturating(p0)), x, dst, cheap); break;
            case UnaryOp.Sqrt: UnaryDriver.Run<T, SqrtOp<T>>(width, default, x, dst, cheap); break;
            case UnaryOp.Rsqrt: UnaryDriver.Run<T, RsqrtOp<T>>(width, default, x, dst, cheap); break;
            case UnaryOp.Reciprocal: UnaryDriver.Run<T, ReciprocalOp<T>>(width, default, x, dst, cheap); break;
            case UnaryOp.Exp: UnaryDriver.Run<T, ExpOp<T>>(width, default, x, dst, costly); break;
            case UnaryOp.Log: UnaryDriver.Run<T, LogOp<T>>(width, default, x, dst, costly); break;
            case UnaryOp.Sigmoid: UnaryDriver.Run<T, SigmoidOp<T>>(width, default, x, dst, costly); break;
            case UnaryOp.Tanh: UnaryDriver.Run<T, TanhOp<T>>(width, default, x, dst, costly); break;
            case UnaryOp.Erf: UnaryDriver.Run<T, ErfOp<T>>(width, default, x, dst, costly); break;
            case UnaryOp.Gelu: UnaryDriver.Run<T, GeluOp<T>>(width, default, x, dst, costly); break;
            case UnaryOp.PowScalar: PowScalar<T>(x, dst, p0, width); break;
            default: throw new NotSupportedException($"Unary {op} is not defined for {x.DType.Name()}.");
        }
    }

    /// <summary>Common exponents become exact vector ops; the rest is scalar Math.Pow.</summary>
    private static void PowScalar<T>(Tensor x, Tensor dst, double p, SimdWidth width) where T : unmanaged, INumber<T>
    {
        bool f = FloatTypes.IsFloat<T>();
        if (p == 1) CpuBackend.Instance.Copy(x, dst);
        else if (p == 2) UnaryDriver.Run<T, SquareOp<T>>(width, default, x, dst);
        else if (f && p == 0.5) UnaryDriver.Run<T, SqrtOp<T>>(width, default, x, dst);
        else if (f && p == -0.5) UnaryDriver.Run<T, RsqrtOp<T>>(width, default, x, dst);
        else if (f && p == -1) UnaryDriver.Run<T, ReciprocalOp<T>>(width, default, x, dst);
        else UnaryDriver.Run<T, PowScalarOp<T>>(width, new(p), x, dst, UnaryDriver.ExpensiveGrain);
    }

    public static void Binary(BinaryOp op, Tensor a, Tensor b, Tensor dst, SimdWidth width)
    {
        if (op is BinaryOp.And or BinaryOp.Or)
        {
            RequireBool(op.ToString(), a);
            if (op == BinaryOp.And) BinaryDriver.Run<byte, AndOp>(width, default, a, b, dst);
            else BinaryDriver.Run<byte, OrOp>(width, default, a, b, dst);
            return;
        }
        switch (a.DType)
        {
            case DType.Float32: Binary<float>(op, a, b, dst, width); break;
            case DType.Float64: Binary<double>(op, a, b, dst, width); break;
            case DType.Int32: Binary<int>(op, a, b, dst, width); break;
            case DType.Int64: Binary<long>(op, a, b, dst, width); break;
            case DType.Bool when op.IsComparison(): Binary<byte>(op, a, b, dst, width); break;
            default: throw new NotSupportedException($"Binary {op} is not defined for {a.DType.Name()}.");
        }
    }

    private static void Binary<T>(BinaryOp op, Tensor a, Tensor b, Tensor dst, SimdWidth width) where T : unmanaged, INumber<T>
    {
        switch (op)
        {
            case BinaryOp.Add: BinaryDriver.Run<T, AddOp<T>>(width, default, a, b, dst); break;
            case BinaryOp.Sub: BinaryDriver.Run<T, SubOp<T>>(width, default, a, b, dst); break;
            case BinaryOp.Mul: BinaryDriver.Run<T, MulOp<T>>(width, default, a, b, dst); break;
            case BinaryOp.Div: BinaryDriver.Run<T, DivOp<T>>(width, default, a, b, dst); break;
            case BinaryOp.Maximum: BinaryDriver.Run<T, MaxOp<T>>(width, default, a, b, dst); break;
            case BinaryOp.Minimum: BinaryDriver.Run<T, MinOp<T>>(width, default, a, b, dst); break;
            case BinaryOp.Pow: BinaryDriver.Run<T, PowOp<T>>(width, default, a, b, dst, UnaryDriver.ExpensiveGrain); break;
            case BinaryOp.ReluBackward: BinaryDriver.Run<T, ReluBackwardOp<T>>(width, default, a, b, dst); break;
            case BinaryOp.Relu6Backward: BinaryDriver.Run<T, Relu6BackwardOp<T>>(width, default, a, b, dst); break;
            case BinaryOp.Eq: CompareDriver.Run<T, EqOp<T>>(width, default, a, b, dst); break;
            case BinaryOp.Ne: CompareDriver.Run<T, NeOp<T>>(width, default, a, b, dst); break;
            case BinaryOp.Lt: CompareDriver.Run<T, LtOp<T>>(width, default, a, b, dst); break;
            case BinaryOp.Le: CompareDriver.Run<T, LeOp<T>>(width, default, a, b, dst); break;
            case BinaryOp.Gt: CompareDriver.Run<T, GtOp<T>>(width, default, a, b, dst); break;
            case BinaryOp.Ge: CompareDriver.Run<T, GeOp<T>>(width, default, a, b, dst); break;
            default: throw new NotSupportedException($"Binary {op} is not defined for {a.DType.Name()}.");
        }
    }

    public static void Where(Tensor cond, Tensor a, Tensor b, Tensor dst, SimdWidth width)
    {
        RequireBool("Where condition", cond);
        switch (dst.DType)
        {
            case DType.Float32: WhereDriver.Run<float>(width, cond, a, b, dst); break;
            case DType.Float64: WhereDriver.Run<double>(width, cond, a, b, dst); break;
            case DType.Int32: WhereDriver.Run<int>(width, cond, a, b, dst); break;
            case DType.Int64: WhereDriver.Run<long>(width, cond, a, b, dst); break;
            case DType.Bool: WhereDriver.Run<byte>(width, cond, a, b, dst); break;
        }
    }

    private static void RequireBool(string what, Tensor t)
    {
        if (t.DType != DType.Bool) throw new NotSupportedException($"{what} needs a bool tensor, got {t.DType.Name()}.");
    }
}
