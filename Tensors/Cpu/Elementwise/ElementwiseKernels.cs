using System.Runtime.Intrinsics;

namespace Sparkle.Tensors.Cpu.Elementwise;

// Operator contracts in the TensorPrimitives style: an op is a small readonly struct (fields hold its scalar
// parameters) with a scalar and a Vector128/Vector256/Vector512 form. The drivers are generic over the op, so the JIT
// specialises and inlines each combination; there is no virtual call per element.
//
// Consistency rule: when Vectorizable is true, the scalar form must give the same bits as one lane of the
// vector form. Ops whose scalar math is not exactly the vector math (exp, tanh, erf, ...) therefore
// implement the scalar form by running the vector form on a broadcast value (see ScalarViaVector).
// That makes results independent of where an element falls (SIMD body, tail, strided row, thread split).

/// <summary>dst = op(x).</summary>
internal interface IUnaryKernel<T> where T : unmanaged
{
    /// <summary>False when only the scalar form is meaningful; the drivers then never call the vector forms.</summary>
    static abstract bool Vectorizable { get; }
    T Invoke(T x);
    Vector256<T> Invoke(Vector256<T> x);
    Vector128<T> Invoke(Vector128<T> x);
    Vector512<T> Invoke(Vector512<T> x);
}

/// <summary>dst = op(a, b).</summary>
internal interface IBinaryKernel<T> where T : unmanaged
{
    static abstract bool Vectorizable { get; }
    T Invoke(T a, T b);
    Vector256<T> Invoke(Vector256<T> a, Vector256<T> b);
    Vector128<T> Invoke(Vector128<T> a, Vector128<T> b);
    Vector512<T> Invoke(Vector512<T> a, Vector512<T> b);
}

/// <summary>Bool result of two operands: the vector forms return a lane mask (all bits set = true).</summary>
internal interface ICompareKernel<T> where T : unmanaged
{
    bool Invoke(T a, T b);
    Vector256<T> Invoke(Vector256<T> a, Vector256<T> b);
    Vector128<T> Invoke(Vector128<T> a, Vector128<T> b);
    Vector512<T> Invoke(Vector512<T> a, Vector512<T> b);
}

/// <summary>Bool result of one operand (IsFinite); vector forms return a lane mask.</summary>
internal interface IPredicateKernel<T> where T : unmanaged
{
    bool Invoke(T x);
    Vector256<T> Invoke(Vector256<T> x);
    Vector128<T> Invoke(Vector128<T> x);
    Vector512<T> Invoke(Vector512<T> x);
}
