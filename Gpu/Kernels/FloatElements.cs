using ILGPU;
using ILGPU.Algorithms;
using Sparkle.Tensors.Backend;

namespace Sparkle.Gpu.Kernels;

/// <summary>float32 element. Erf and GELU are evaluated in float64 and rounded once (simple, and accurate to
/// about an ulp); the rest use XMath (GPU intrinsics on CUDA).</summary>
public readonly struct F32 : IElement<float>
{
    public double ToDouble(float x) => x;
    public float FromDouble(double v) => (float)v;
    public long ToLong(float x) => (long)x;
    public float FromLong(long v) => (float)(double)v;
    public float Add(float a, float b) => a + b;
    public float Sub(float a, float b) => a - b;
    public float Mul(float a, float b) => a * b;
    public float Div(float a, float b) => a / b;
    public float Maximum(float a, float b)
    {
        if (XMath.IsNaN(a)) return a;
        if (XMath.IsNaN(b)) return b;
        if (a == b) return (Interop.FloatAsInt(a) & 0x80000000u) != 0 ? b : a;
        return a > b ? a : b;
    }
    public float Minimum(float a, float b)
    {
        if (XMath.IsNaN(a)) return a;
        if (XMath.IsNaN(b)) return b;
        if (a == b) return (Interop.FloatAsInt(a) & 0x80000000u) != 0 ? a : b;
        return a < b ? a : b;
    }
    public float Neg(float x) => -x;
    public float Abs(float x) => XMath.Abs(x);
    public bool Eq(float a, float b) => a == b;
    public bool Lt(float a, float b) => a < b;
    public bool Le(float a, float b) => a <= b;
    public bool IsFinite(float x) => XMath.IsFinite(x);
    public float PowScalar(float x, double p) => (float)XMath.Pow((double)x, p);
    public float Pow(float a, float b) => (float)XMath.Pow((double)a, (double)b);
    public float Transcendental(int op, float x)
    {
        switch (op)
        {
            case (int)UnaryOp.Exp: return XMath.Exp(x);
            case (int)UnaryOp.Log: return XMath.Log(x);
            case (int)UnaryOp.Sqrt: return XMath.Sqrt(x);
            case (int)UnaryOp.Rsqrt: return 1f / XMath.Sqrt(x);
            case (int)UnaryOp.Sigmoid: return 1f / (1f + XMath.Exp(-x));
            case (int)UnaryOp.Tanh: return XMath.Tanh(x);
            case (int)UnaryOp.Erf: return (float)ErfMath.Erf(x);
            case (int)UnaryOp.Gelu: return (float)ErfMath.Gelu(x);
            case (int)UnaryOp.Reciprocal: return 1f / x;
            default: return x;
        }
    }
}

/// <summary>float64 element (gradient checks).</summary>
public readonly struct F64 : IElement<double>
{
    public double ToDouble(double x) => x;
    public double FromDouble(double v) => v;
    public long ToLong(double x) => (long)x;
    public double FromLong(long v) => v;
    public double Add(double a, double b) => a + b;
    public double Sub(double a, double b) => a - b;
    public double Mul(double a, double b) => a * b;
    public double Div(double a, double b) => a / b;
    public double Maximum(double a, double b)
    {
        if (XMath.IsNaN(a)) return a;
        if (XMath.IsNaN(b)) return b;
        if (a == b) return (Interop.FloatAsInt(a) & 0x8000000000000000ul) != 0 ? b : a;
        return a > b ? a : b;
    }
    public double Minimum(double a, double b)
    {
        if (XMath.IsNaN(a)) return a;
        if (XMath.IsNaN(b)) return b;
        if (a == b) return (Interop.FloatAsInt(a) & 0x8000000000000000ul) != 0 ? a : b;
        return a < b ? a : b;
    }
    public double Neg(double x) => -x;
    public double Abs(double x) => XMath.Abs(x);
    public bool Eq(double a, double b) => a == b;
    public bool Lt(double a, double b) => a < b;
    public bool Le(double a, double b) => a <= b;
    public bool IsFinite(double x) => XMath.IsFinite(x);
    public double PowScalar(double x, double p) => XMath.Pow(x, p);
    public double Pow(double a, double b) => XMath.Pow(a, b);
    public double Transcendental(int op, double x)
    {
        switch (op)
        {
            case (int)UnaryOp.Exp: return XMath.Exp(x);
            case (int)UnaryOp.Log: return XMath.Log(x);
            case (int)UnaryOp.Sqrt: return XMath.Sqrt(x);
            case (int)UnaryOp.Rsqrt: return 1.0 / XMath.Sqrt(x);
            case (int)UnaryOp.Sigmoid: return 1.0 / (1.0 + XMath.Exp(-x));
            case (int)UnaryOp.Tanh: return XMath.Tanh(x);
            case (int)UnaryOp.Erf: return ErfMath.Erf(x);
            case (int)UnaryOp.Gelu: return ErfMath.Gelu(x);
            case (int)UnaryOp.Reciprocal: return 1.0 / x;
            default: return x;
        }
    }
}
