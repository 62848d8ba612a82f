namespace Sparkle.Tensors.Backend;

/// <summary>Elementwise unary kernels. p0/p1 are the scalar parameters passed to <see cref="IBackend.Unary"/>.</summary>
public enum UnaryOp
{
    Neg, Abs, Exp, Log, Sqrt, Rsqrt, Square, Relu, Relu6,
    /// <summary>Exact erf form: x * 0.5 * (1 + erf(x / sqrt 2)).</summary>
    Gelu,
    Sigmoid, Tanh, Erf,
    /// <summary>clamp(x, p0, p1); use ±infinity for a missing bound.</summary>
    Clamp,
    /// <summary>x ^ p0.</summary>
    PowScalar,
    /// <summary>Result Bool: true where x is neither NaN nor infinite.</summary>
    IsFinite,
    /// <summary>Bool only: logical not.</summary>
    Not,
    /// <summary>x * p0 (in-place scaling, Add_ with alpha).</summary>
    Scale,
    /// <summary>1 / x (float types).</summary>
    Reciprocal,
}

public static class UnaryOps
{
    /// <summary>Ops defined only for float32/float64 (the public API converts integer inputs to float32 first).</summary>
    public static bool NeedsFloat(this UnaryOp op) => op is UnaryOp.Exp or UnaryOp.Log or UnaryOp.Sqrt or UnaryOp.Rsqrt
        or UnaryOp.Gelu or UnaryOp.Sigmoid or UnaryOp.Tanh or UnaryOp.Erf or UnaryOp.Reciprocal;
}
