using Sparkle.Tensors.Autograd;
using Sparkle.Tensors.Backend;

namespace Sparkle.Tensors;

/// <summary>Comparisons (bool results, computed in the promoted dtype), logical ops, Where and MaskedFill.</summary>
public sealed partial class Tensor
{
    public Tensor Eq(Tensor other) => Compare("Eq", BinaryOp.Eq, this, other);
    public Tensor Eq(double scalar) => Compare("Eq", BinaryOp.Eq, this, scalar);
    public Tensor Ne(Tensor other) => Compare("Ne", BinaryOp.Ne, this, other);
    public Tensor Ne(double scalar) => Compare("Ne", BinaryOp.Ne, this, scalar);
    public Tensor Lt(Tensor other) => Compare("Lt", BinaryOp.Lt, this, other);
    public Tensor Lt(double scalar) => Compare("Lt", BinaryOp.Lt, this, scalar);
    public Tensor Le(Tensor other) => Compare("Le", BinaryOp.Le, this, other);
    public Tensor Le(double scalar) => Compare("Le", BinaryOp.Le, this, scalar);
    public Tensor Gt(Tensor other) => Compare("Gt", BinaryOp.Gt, this, other);
    public Tensor Gt(double scalar) => Compare("Gt", BinaryOp.Gt, this, scalar);
    public Tensor Ge(Tensor other) => Compare("Ge", BinaryOp.Ge, this, other);
    public Tensor Ge(double scalar) => Compare("Ge", BinaryOp.Ge, this, scalar);

    /// <summary>Logical ops take any dtype (nonzero is true) and return bool.</summary>
    public Tensor LogicalNot()
    {
        var src = To(DType.Bool);
        var dst = NewEmpty(Shape, DType.Bool);
        Backend.Unary(UnaryOp.Not, src, dst);
        return dst;
    }

    public Tensor LogicalAnd(Tensor other) => BinaryCore("LogicalAnd", BinaryOp.And, To(DType.Bool), other.To(DType.Bool), DType.Bool);
    public Tensor LogicalOr(Tensor other) => BinaryCore("LogicalOr", BinaryOp.Or, To(DType.Bool), other.To(DType.Bool), DType.Bool);

    /// <summary>cond ? a : b elementwise, all three broadcast together; cond must be bool; a and b promote.</summary>
    public static Tensor Where(Tensor cond, Tensor a, Tensor b)
    {
        if (cond.DType != DType.Bool)
            throw new InvalidOperationException($"Where: the condition must be a bool tensor, got {cond.DType.Name()} {ShapeUtil.Format(cond.Shape)}.");
        if (GradHook.Wants(a, b))
        {
            Tensor raw;
            using (GradHook.Pause()) raw = Where(cond, a, b);
            return GradHook.Recorder!.Where(cond, a, b, raw);
        }
        CheckSameDevice("Where", cond, a);
        CheckSameDevice("Where", a, b);
        var shape = BroadcastShape("Where", cond.Shape, BroadcastShape("Where", a.Shape, b.Shape));
        var dt = Promotion.Tensors(a.DType, b.DType);
        var dst = Empty(shape, dt, a.Backend);
        a.Backend.Where(cond.Expand(shape), a.To(dt).Expand(shape), b.To(dt).Expand(shape), dst);
        return dst;
    }

    public static Tensor Where(Tensor cond, Tensor a, double b) => Where(cond, a, a.ScalarFor(b, out _));
    public static Tensor Where(Tensor cond, double a, Tensor b) => Where(cond, b.ScalarFor(a, out _), b);

    /// <summary>A copy with <paramref name="value"/> where mask is true (torch.masked_fill). The bool mask must
    /// broadcast to this tensor's shape; the result keeps this dtype.</summary>
    public Tensor MaskedFill(Tensor mask, double value)
    {
        if (mask.DType != DType.Bool)
            throw new InvalidOperationException($"MaskedFill: the mask must be a bool tensor, got {mask.DType.Name()} {ShapeUtil.Format(mask.Shape)}.");
        CheckSameDevice("MaskedFill", this, mask);
        var shape = BroadcastShape("MaskedFill", Shape, mask.Shape);
        if (!ShapeUtil.SameShape(shape, Shape))
            throw new ArgumentException($"MaskedFill: mask {ShapeUtil.Format(mask.Shape)} does not broadcast to the tensor's shape {ShapeUtil.Format(Shape)}.");
        var dst = NewEmpty(Shape, DType);
        var fill = Scalar(value, DType, Device);
        Backend.Where(mask.Expand(shape), fill.Expand(shape), this, dst);
        return GradHook.Wants(this) ? GradHook.Recorder!.Where(mask, fill, this, dst) : dst;
    }

    private static Tensor Compare(string name, BinaryOp op, Tensor a, Tensor b)
        => BinaryCore(name, op, a, b, Promotion.Tensors(a.DType, b.DType));

    private static Tensor Compare(string name, BinaryOp op, Tensor a, double b)
        => BinaryCore(name, op, a, a.ScalarFor(b, out var dt), dt);
}
