using Sparkle.Tensors.Autograd;

namespace Sparkle.Tensors;

/// <summary>
/// Autograd state carried by every tensor. The graph, the engine and the gradient rules live in
/// Sparkle.Autograd (docs/autograd.md); a tensor only knows whether it requires grad, its accumulated
/// <see cref="Grad"/>, and the node of the op that made it.
/// </summary>
public sealed partial class Tensor
{
    private bool _requiresGrad;
    private Tensor? _grad;

    /// <summary>The graph node (a Sparkle.Autograd.GradNode) of the op that produced this tensor; null for leaves.</summary>
    internal object? GradNode { get; set; }

    /// <summary>
    /// True for a leaf the user marked, and for every result of a recorded op. Only floating leaves can be
    /// marked; results of ops get it from their inputs. Setting it needs Sparkle.Autograd at run time.
    /// </summary>
    public bool RequiresGrad
    {
        get => _requiresGrad || GradNode is not null;
        set
        {
            if (GradNode is not null)
                throw new InvalidOperationException($"RequiresGrad can only be set on a leaf tensor; this {ShapeUtil.Format(Shape)} tensor was made by {GradNode}. Use Detach() for a leaf that shares its data.");
            if (value && !DType.IsFloating())
                throw new InvalidOperationException($"Only float32/float64 tensors can require grad, got {DType.Name()} {ShapeUtil.Format(Shape)}.");
            if (value) GradHook.EnsureRecorder();
            _requiresGrad = value;
        }
    }

    /// <summary>Sets <see cref="RequiresGrad"/> and returns this (torch's requires_grad_()).</summary>
    public Tensor RequireGrad(bool requiresGrad = true)
    {
        RequiresGrad = requiresGrad;
        return this;
    }

    /// <summary>True when no recorded op made this tensor (user tensors, parameters, detached tensors).</summary>
    public bool IsLeaf => GradNode is null;

    /// <summary>Name of the node that made this tensor (e.g. "MulBackward"), or null for a leaf.</summary>
    public string? GradFnName => GradNode?.ToString();

    /// <summary>
    /// The gradient accumulated by Backward() for a leaf that requires grad (or a non-leaf after
    /// RetainGrad); null until the first backward. Assigning checks shape, dtype and device; assign null to
    /// clear (optimizers' zero_grad(set_to_none=True)).
    /// </summary>
    public Tensor? Grad
    {
        get => _grad;
        set
        {
            if (value is not null)
            {
                if (!ShapeUtil.SameShape(value.Shape, Shape) || value.DType != DType || value.Device != Device)
                    throw new ArgumentException($"Grad must match the tensor: got {value.DType.Name()} {ShapeUtil.Format(value.Shape)} on {value.Device} for {DType.Name()} {ShapeUtil.Format(Shape)} on {Device}.");
            }
            _grad = value;
        }
    }

    /// <summary>Asks Backward() to keep this non-leaf tensor's gradient in <see cref="Grad"/> (torch's retain_grad()).
    /// Leaves keep theirs anyway. Returns this.</summary>
    public Tensor RetainGrad()
    {
        if (!RequiresGrad)
            throw new InvalidOperationException($"RetainGrad: the {ShapeUtil.Format(Shape)} tensor does not require grad.");
        if (!IsLeaf) GradHook.EnsureRecorder().RetainGrad(this);
        return this;
    }

    /// <summary>A leaf that shares this tensor's storage and layout but is cut from the graph (torch's detach()).</summary>
    public Tensor Detach() => new(Storage, Offset, _shape, _strides);

    /// <summary>
    /// Back-propagates from this tensor: gradients accumulate into <see cref="Grad"/> of every leaf that
    /// requires grad, then the graph is freed (keep it with <paramref name="retainGraph"/>).
    /// <paramref name="gradient"/> is d(loss)/d(this); it may be omitted only for a one-element tensor (1 is used).
    /// </summary>
    public void Backward(Tensor? gradient = null, bool retainGraph = false)
    {
        if (!RequiresGrad)
            throw new InvalidOperationException($"Backward: the {ShapeUtil.Format(Shape)} tensor does not require grad and has no graph (did it come from a NoGrad scope or Detach()?).");
        GradHook.EnsureRecorder().Backward(this, gradient, retainGraph);
    }

    /// <summary>For in-place writes: refuses tensors in a recorded graph and bumps the storage version so that a
    /// backward that saved this data before the write notices (torch's "modified by an inplace operation").</summary>
    private void BeginInPlaceWrite(string name)
    {
        if (GradHook.IsEnabled && RequiresGrad)
            throw new InvalidOperationException(IsLeaf
                ? $"{name}: this {ShapeUtil.Format(Shape)} tensor requires grad, so it cannot be changed in place while grad is recorded; do the update inside a NoGrad scope (as optimizers do)."
                : $"{name}: in-place ops are not recorded, so the {ShapeUtil.Format(Shape)} result of {GradNode} cannot be changed in place; use the out-of-place op.");
        Storage.Version++;
    }
}
