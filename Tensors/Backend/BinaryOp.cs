namespace Sparkle.Tensors.Backend;

/// <summary>Elementwise binary kernels. Comparisons produce Bool.</summary>
public enum BinaryOp
{
    Add, Sub, Mul, Div, Pow, Maximum, Minimum,
    Eq, Ne, Lt, Le, Gt, Ge,
    /// <summary>Bool only.</summary>
    And, Or,
    /// <summary>Activation backward in one pass (torch's threshold_backward): a where b &gt; 0, else 0 — a is the
    /// output gradient, b the ReLU output. Not differentiable itself (no second order).</summary>
    ReluBackward,
    /// <summary>a where 0 &lt; b &lt; 6, else 0 (hardtanh_backward) — b is the ReLU6 input or output (the same test).</summary>
    Relu6Backward,
}

public static class BinaryOps
{
    public static bool IsComparison(this BinaryOp op) => op is BinaryOp.Eq or BinaryOp.Ne or BinaryOp.Lt or BinaryOp.Le or BinaryOp.Gt or BinaryOp.Ge;
}
