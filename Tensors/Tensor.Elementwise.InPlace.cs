using Sparkle.Tensors.Backend;

namespace Sparkle.Tensors;

/// <summary>
/// In-place ops (trailing underscore, as in PyTorch): they write into this tensor's storage and return this.
/// This tensor may be any view; the write lands in the shared storage, so every other view of it sees the
/// change. The operand broadcasts to this tensor's shape and converts to its dtype (a floating operand into an
/// integer tensor is an error). Operands that overlap this view other than exactly (e.g. x.Add_(x.T)) give
/// undefined results; an expanded (stride-0) destination is rejected.
/// </summary>
public sealed partial class Tensor
{
    /// <summary>this += alpha * other.</summary>
    public Tensor Add_(Tensor other, double alpha = 1)
    {
        var src = InPlaceOperand("Add_", other);
        if (alpha != 1)
        {
            CheckInPlaceScalar("Add_", alpha);
            var scaled = NewEmpty(Shape, DType);
            Backend.Unary(UnaryOp.Scale, src, scaled, alpha);
            src = scaled;
        }
        Backend.Binary(BinaryOp.Add, this, src, this);
        return this;
    }

    /// <summary>this -= alpha * other.</summary>
    public Tensor Sub_(Tensor other, double alpha = 1) => Add_(other, -alpha);

    public Tensor Add_(double scalar) => InPlaceWithScalar("Add_", BinaryOp.Add, scalar);

    public Tensor Mul_(Tensor other)
    {
        Backend.Binary(BinaryOp.Mul, this, InPlaceOperand("Mul_", other), this);
        return this;
    }

    public Tensor Mul_(double scalar)
    {
        CheckWritable("Mul_");
        CheckInPlaceScalar("Mul_", scalar);
        Backend.Unary(UnaryOp.Scale, this, this, scalar);
        return this;
    }

    /// <summary>this /= scalar (floating tensors only).</summary>
    public Tensor Div_(double scalar)
    {
        CheckFloating("Div_", this);
        return InPlaceWithScalar("Div_", BinaryOp.Div, scalar);
    }

    /// <summary>this /= other (floating tensors only).</summary>
    public Tensor Div_(Tensor other)
    {
        CheckFloating("Div_", this);
        Backend.Binary(BinaryOp.Div, this, InPlaceOperand("Div_", other), this);
        return this;
    }

    /// <summary>this = sqrt(this) (floating tensors only).</summary>
    public Tensor Sqrt_()
    {
        CheckFloating("Sqrt_", this);
        CheckWritable("Sqrt_");
        Backend.Unary(UnaryOp.Sqrt, this, this);
        return this;
    }

    /// <summary>Copies src (broadcast to this shape, converted to this dtype) into this view.</summary>
    public Tensor Copy_(Tensor src)
    {
        CheckWritable("Copy_");
        CheckSameDevice("Copy_", this, src);
        Backend.Copy(src.Expand(BroadcastInto("Copy_", src)), this);
        return this;
    }

    public Tensor Fill_(double value)
    {
        CheckWritable("Fill_");
        Backend.Fill(this, value);
        return this;
    }

    public Tensor Zero_() => Fill_(0);

    private Tensor InPlaceWithScalar(string name, BinaryOp op, double scalar)
    {
        CheckWritable(name);
        CheckInPlaceScalar(name, scalar);
        Backend.Binary(op, this, Scalar(scalar, DType, Device).Expand(ShapeArray()), this);
        return this;
    }

    /// <summary>other broadcast to this shape and converted to this dtype, after the in-place checks.</summary>
    private Tensor InPlaceOperand(string name, Tensor other)
    {
        CheckWritable(name);
        CheckSameDevice(name, this, other);
        if (DType == DType.Bool)
            throw new InvalidOperationException($"{name} is not defined for a bool tensor {ShapeUtil.Format(Shape)}.");
        if (other.DType.IsFloating() && !DType.IsFloating())
            throw new InvalidOperationException($"{name}: a {other.DType.Name()} operand {ShapeUtil.Format(other.Shape)} cannot be written into a {DType.Name()} tensor {ShapeUtil.Format(Shape)}.");
        return other.To(DType).Expand(BroadcastInto(name, other));
    }

    private int[] BroadcastInto(string name, Tensor other)
    {
        var shape = BroadcastShape(name, Shape, other.Shape);
        if (!ShapeUtil.SameShape(shape, Shape))
            throw new ArgumentException($"{name}: operand {ShapeUtil.Format(other.Shape)} does not broadcast to the destination's shape {ShapeUtil.Format(Shape)}.");
        return shape;
    }

    private void CheckInPlaceScalar(string name, double scalar)
    {
        if (DType == DType.Bool)
            throw new InvalidOperationException($"{name} is not defined for a bool tensor {ShapeUtil.Format(Shape)}.");
        if (!DType.IsFloating() && !Promotion.IsIntegral(scalar))
            throw new InvalidOperationException($"{name}: the non-integral scalar {scalar} cannot be applied in place to a {DType.Name()} tensor {ShapeUtil.Format(Shape)}.");
    }

    /// <summary>Every in-place op starts here: the autograd check and version bump (Tensor.Grad.cs), and a
    /// destination must not repeat elements (stride 0 over a dim longer than 1).</summary>
    private void CheckWritable(string name)
    {
        BeginInPlaceWrite(name);
        for (int i = 0; i < Rank; i++)
            if (_strides[i] == 0 && _shape[i] > 1)
                throw new InvalidOperationException($"{name}: the destination {ShapeUtil.Format(Shape)} is expanded (stride 0 in dim {i}), so several elements share one memory location; call Clone() first.");
    }
}
