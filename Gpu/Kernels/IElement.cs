namespace Sparkle.Gpu.Kernels;

/// <summary>
/// Per-dtype arithmetic for generic kernels. Kernels call it on <c>default(TE)</c>, a struct type argument,
/// so ILGPU specialises each kernel per dtype with no virtual calls. One implementation per device element
/// type: float, double, int, long and byte (bool: 0 or 1). Ops a dtype does not have (transcendentals on
/// integers, arithmetic on bool) return a harmless value; the host never dispatches them.
/// Conversions follow CpuBackend.Convert: via double, except int/long to int/long (exact / wrapping).
/// </summary>
public interface IElement<T> where T : unmanaged
{
    double ToDouble(T x);
    T FromDouble(double v);
    long ToLong(T x);
    T FromLong(long v);
    T Add(T a, T b);
    T Sub(T a, T b);
    T Mul(T a, T b);
    T Div(T a, T b);
    /// <summary>IEEE 754-2019 maximum / minimum: NaN propagates, -0 &lt; +0 (torch.maximum, relu, clamp).</summary>
    T Maximum(T a, T b);
    T Minimum(T a, T b);
    T Neg(T x);
    T Abs(T x);
    bool Eq(T a, T b);
    bool Lt(T a, T b);
    bool Le(T a, T b);
    bool IsFinite(T x);
    /// <summary>x ^ p for a scalar exponent (PowScalarOp on the CPU).</summary>
    T PowScalar(T x, double p);
    /// <summary>a ^ b elementwise (PowOp on the CPU).</summary>
    T Pow(T a, T b);
    /// <summary>Exp, Log, Sqrt, Rsqrt, Sigmoid, Tanh, Erf, Gelu, Reciprocal (UnaryOp codes); float types only.</summary>
    T Transcendental(int op, T x);
}
