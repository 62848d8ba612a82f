namespace Sparkle.Tensors.Backend;

/// <summary>Elementwise binary kernels. Comparisons produce Bool.</summary>
public enum BinaryOp
{
    Add, Sub, Mul, Div, Pow, Maximum, Minimum,
    Eq, Ne, Lt, Le, Gt, Ge,
    /// <summary>Bool only.</summary>
    And, Or,
}

public static class BinaryOps
{
    public static bool IsComparison(this BinaryOp op) => op is BinaryOp.Eq or BinaryOp.Ne or BinaryOp.Lt or BinaryOp.Le or BinaryOp.Gt or BinaryOp.Ge;
}
