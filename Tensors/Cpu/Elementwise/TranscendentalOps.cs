using System.Numerics;
using System.Runtime.Intrinsics;

namespace Sparkle.Tensors.Cpu.Elementwise;

internal readonly struct ExpOp<T> : IUnaryKernel<T> where T : unmanaged, INumber<T>
{
    public static bool Vectorizable => FloatTypes.IsFloat<T>();
    public T Invoke(T x) => Vectorizable ? ScalarViaVector.Unary<T, ExpOp<T>>(this, x) : FloatTypes.ViaDouble(x, Math.Exp);
    public Vector256<T> Invoke(Vector256<T> x) => Simd256<T>.Exp(x);
    public Vector128<T> Invoke(Vector128<T> x) => Simd128<T>.Exp(x);
    public Vector512<T> Invoke(Vector512<T> x) => Simd512<T>.Exp(x);
}

internal readonly struct LogOp<T> : IUnaryKernel<T> where T : unmanaged, INumber<T>
{
    public static bool Vectorizable => FloatTypes.IsFloat<T>();
    public T Invoke(T x) => Vectorizable ? ScalarViaVector.Unary<T, LogOp<T>>(this, x) : FloatTypes.ViaDouble(x, Math.Log);
    public Vector256<T> Invoke(Vector256<T> x) => typeof(T) == typeof(float)
        ? Vector256.Log(x.AsSingle()).As<float, T>() : Vector256.Log(x.AsDouble()).As<double, T>();
    public Vector128<T> Invoke(Vector128<T> x) => typeof(T) == typeof(float)
        ? Vector128.Log(x.AsSingle()).As<float, T>() : Vector128.Log(x.AsDouble()).As<double, T>();
    public Vector512<T> Invoke(Vector512<T> x) => typeof(T) == typeof(float)
        ? Vector512.Log(x.AsSingle()).As<float, T>() : Vector512.Log(x.AsDouble()).As<double, T>();
}

/// <summary>erf: vectorised for float32 (<see cref="ErfFloat"/>), per lane for float64 (<see cref="ErrorFunction"/>).</summary>
internal readonly struct ErfOp<T> : IUnaryKernel<T> where T : unmanaged, INumber<T>
{
    public static bool Vectorizable => FloatTypes.IsFloat<T>();
    public T Invoke(T x) => typeof(T) == typeof(float) ? ScalarViaVector.Unary<T, ErfOp<T>>(this, x) : FloatTypes.ViaDouble(x, ErrorFunction.Erf);
    public Vector256<T> Invoke(Vector256<T> x) => typeof(T) == typeof(float)
        ? ErfFloat.Erf<Vector256<float>, Simd256<float>>(x.AsSingle()).As<float, T>()
        : ScalarViaVector.PerLane(x.AsDouble(), ErrorFunction.Erf).As<double, T>();
    public Vector128<T> Invoke(Vector128<T> x) => typeof(T) == typeof(float)
        ? ErfFloat.Erf<Vector128<float>, Simd128<float>>(x.AsSingle()).As<float, T>()
        : ScalarViaVector.PerLane(x.AsDouble(), ErrorFunction.Erf).As<double, T>();
    public Vector512<T> Invoke(Vector512<T> x) => typeof(T) == typeof(float)
        ? ErfFloat.Erf<Vector512<float>, Simd512<float>>(x.AsSingle()).As<float, T>()
        : ScalarViaVector.PerLane(x.AsDouble(), ErrorFunction.Erf).As<double, T>();
}

/// <summary>x ^ p for a general exponent (scalar; the backend maps p = 0.5, -0.5, 1, -1, 2 to vector ops).
/// Integer types use exact repeated squaring for p &gt;= 0.</summary>
internal readonly struct PowScalarOp<T>(double p) : IUnaryKernel<T> where T : unmanaged, INumber<T>
{
    private readonly double _p = p;
    public static bool Vectorizable => false;
    public T Invoke(T x) => PowMath.Pow(x, _p);
    public Vector256<T> Invoke(Vector256<T> x) => throw new NotSupportedException();
    public Vector128<T> Invoke(Vector128<T> x) => throw new NotSupportedException();
    public Vector512<T> Invoke(Vector512<T> x) => throw new NotSupportedException();
}

internal static class PowMath
{
    public static T Pow<T>(T x, double p) where T : unmanaged, INumber<T>
    {
        if (FloatTypes.IsFloat<T>()) return CpuBackend.FromDouble<T>(Math.Pow(CpuBackend.ToDouble(x), p));
        if (p >= 0 && p == Math.Floor(p) && p <= long.MaxValue) return IntPow(x, (long)p);
        return CpuBackend.FromDouble<T>(Math.Pow(CpuBackend.ToDouble(x), p));
    }

    /// <summary>Exact integer power with wrap-around (like torch's integer pow); e &gt;= 0.</summary>
    public static T IntPow<T>(T x, long e) where T : INumber<T>
    {
        T r = T.One;
        while (e > 0)
        {
            if ((e & 1) != 0) r *= x;
            x *= x;
            e >>= 1;
        }
        return r;
    }
}
