using System.Numerics;
using System.Runtime.Intrinsics;

namespace Sparkle.Tensors.Cpu.Elementwise;

// Max/Min follow IEEE 754-2019 maximum/minimum (NaN propagates, -0 < +0) in both the scalar (T.Max) and the
// vector (Vector256.Max) forms, like torch.relu / torch.clamp.

internal readonly struct ReluOp<T> : IUnaryKernel<T> where T : unmanaged, INumber<T>
{
    public static bool Vectorizable => true;
    public T Invoke(T x) => T.Max(x, T.Zero);
    public Vector256<T> Invoke(Vector256<T> x) => Vector256.Max(x, Vector256<T>.Zero);
    public Vector128<T> Invoke(Vector128<T> x) => Vector128.Max(x, Vector128<T>.Zero);
    public Vector512<T> Invoke(Vector512<T> x) => Vector512.Max(x, Vector512<T>.Zero);
}

internal readonly struct Relu6Op<T> : IUnaryKernel<T> where T : unmanaged, INumber<T>
{
    private static T Six => T.CreateTruncating(6);
    public static bool Vectorizable => true;
    public T Invoke(T x) => T.Min(T.Max(x, T.Zero), Six);
    public Vector256<T> Invoke(Vector256<T> x) => Vector256.Min(Vector256.Max(x, Vector256<T>.Zero), Vector256.Create(Six));
    public Vector128<T> Invoke(Vector128<T> x) => Vector128.Min(Vector128.Max(x, Vector128<T>.Zero), Vector128.Create(Six));
    public Vector512<T> Invoke(Vector512<T> x) => Vector512.Min(Vector512.Max(x, Vector512<T>.Zero), Vector512.Create(Six));
}

/// <summary>min(max(x, lo), hi) (torch.clamp: hi wins when lo &gt; hi).</summary>
internal readonly struct ClampOp<T>(T lo, T hi) : IUnaryKernel<T> where T : unmanaged, INumber<T>
{
    private readonly T _lo = lo, _hi = hi;
    public static bool Vectorizable => true;
    public T Invoke(T x) => T.Min(T.Max(x, _lo), _hi);
    public Vector256<T> Invoke(Vector256<T> x) => Vector256.Min(Vector256.Max(x, Vector256.Create(_lo)), Vector256.Create(_hi));
    public Vector128<T> Invoke(Vector128<T> x) => Vector128.Min(Vector128.Max(x, Vector128.Create(_lo)), Vector128.Create(_hi));
    public Vector512<T> Invoke(Vector512<T> x) => Vector512.Min(Vector512.Max(x, Vector512.Create(_lo)), Vector512.Create(_hi));
}

internal readonly struct SigmoidOp<T> : IUnaryKernel<T> where T : unmanaged, INumber<T>
{
    public static bool Vectorizable => FloatTypes.IsFloat<T>();
    public T Invoke(T x) => Vectorizable ? ScalarViaVector.Unary<T, SigmoidOp<T>>(this, x) : FloatTypes.ViaDouble(x, v => 1 / (1 + Math.Exp(-v)));
    public Vector256<T> Invoke(Vector256<T> x) => VectorMath.Sigmoid<T, Vector256<T>, Simd256<T>>(x);
    public Vector128<T> Invoke(Vector128<T> x) => VectorMath.Sigmoid<T, Vector128<T>, Simd128<T>>(x);
    public Vector512<T> Invoke(Vector512<T> x) => VectorMath.Sigmoid<T, Vector512<T>, Simd512<T>>(x);
}

internal readonly struct TanhOp<T> : IUnaryKernel<T> where T : unmanaged, INumber<T>
{
    public static bool Vectorizable => FloatTypes.IsFloat<T>();
    public T Invoke(T x) => Vectorizable ? ScalarViaVector.Unary<T, TanhOp<T>>(this, x) : FloatTypes.ViaDouble(x, Math.Tanh);
    public Vector256<T> Invoke(Vector256<T> x) => VectorMath.Tanh<T, Vector256<T>, Simd256<T>>(x);
    public Vector128<T> Invoke(Vector128<T> x) => VectorMath.Tanh<T, Vector128<T>, Simd128<T>>(x);
    public Vector512<T> Invoke(Vector512<T> x) => VectorMath.Tanh<T, Vector512<T>, Simd512<T>>(x);
}

/// <summary>Exact GELU, x * 0.5 * (1 + erf(x / sqrt 2)): vectorised for float32, per lane for float64.</summary>
internal readonly struct GeluOp<T> : IUnaryKernel<T> where T : unmanaged, INumber<T>
{
    public static bool Vectorizable => FloatTypes.IsFloat<T>();
    public T Invoke(T x) => typeof(T) == typeof(float) ? ScalarViaVector.Unary<T, GeluOp<T>>(this, x) : FloatTypes.ViaDouble(x, GeluDouble.Gelu);
    public Vector256<T> Invoke(Vector256<T> x) => typeof(T) == typeof(float)
        ? ErfFloat.Gelu<Vector256<float>, Simd256<float>>(x.AsSingle()).As<float, T>()
        : ScalarViaVector.PerLane(x.AsDouble(), GeluDouble.Gelu).As<double, T>();
    public Vector128<T> Invoke(Vector128<T> x) => typeof(T) == typeof(float)
        ? ErfFloat.Gelu<Vector128<float>, Simd128<float>>(x.AsSingle()).As<float, T>()
        : ScalarViaVector.PerLane(x.AsDouble(), GeluDouble.Gelu).As<double, T>();
    public Vector512<T> Invoke(Vector512<T> x) => typeof(T) == typeof(float)
        ? ErfFloat.Gelu<Vector512<float>, Simd512<float>>(x.AsSingle()).As<float, T>()
        : ScalarViaVector.PerLane(x.AsDouble(), GeluDouble.Gelu).As<double, T>();
}
