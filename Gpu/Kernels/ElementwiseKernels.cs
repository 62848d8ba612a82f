using ILGPU;
using ILGPU.Runtime;
using Sparkle.Tensors.Backend;

namespace Sparkle.Gpu.Kernels;

/// <summary>
/// Elementwise kernels: one thread per output element, operand offsets from <see cref="Layout4"/>
/// (operand 0 = dst, then inputs). The op is a kernel argument switched on per thread (uniform across a
/// warp, so no divergence): one compiled kernel per dtype instead of one per (op, dtype) keeps JIT time low.
/// </summary>
public static class ElementwiseKernels
{
    /// <summary>dst = op(x) for every UnaryOp except Not and IsFinite. p0, p1: Clamp bounds / Scale factor
    /// already converted to T; pd: the PowScalar exponent.</summary>
    public static void Unary<T, TE>(Index1D i, ArrayView1D<T, Stride1D.Dense> x, ArrayView1D<T, Stride1D.Dense> dst,
        Layout4 l, int op, T p0, T p1, double pd)
        where T : unmanaged where TE : struct, IElement<T>
    {
        l.Locate(i, out int od, out int ox, out _, out _);
        var e = default(TE);
        T v = x[ox];
        T r;
        switch (op)
        {
            case (int)UnaryOp.Neg: r = e.Neg(v); break;
            case (int)UnaryOp.Abs: r = e.Abs(v); break;
            case (int)UnaryOp.Square: r = e.Mul(v, v); break;
            case (int)UnaryOp.Relu: r = e.Maximum(v, e.FromLong(0)); break;
            case (int)UnaryOp.Relu6: r = e.Minimum(e.Maximum(v, e.FromLong(0)), e.FromLong(6)); break;
            case (int)UnaryOp.Clamp: r = e.Minimum(e.Maximum(v, p0), p1); break;
            case (int)UnaryOp.Scale: r = e.Mul(v, p0); break;
            case (int)UnaryOp.PowScalar: r = e.PowScalar(v, pd); break;
            default: r = e.Transcendental(op, v); break;
        }
        dst[od] = r;
    }

    /// <summary>dst (bool) = x is neither NaN nor infinite.</summary>
    public static void IsFinite<T, TE>(Index1D i, ArrayView1D<T, Stride1D.Dense> x, ArrayView1D<byte, Stride1D.Dense> dst, Layout4 l)
        where T : unmanaged where TE : struct, IElement<T>
    {
        l.Locate(i, out int od, out int ox, out _, out _);
        dst[od] = default(TE).IsFinite(x[ox]) ? (byte)1 : (byte)0;
    }

    /// <summary>Arithmetic BinaryOps (Add..Minimum, Pow).</summary>
    public static void Binary<T, TE>(Index1D i, ArrayView1D<T, Stride1D.Dense> a, ArrayView1D<T, Stride1D.Dense> b,
        ArrayView1D<T, Stride1D.Dense> dst, Layout4 l, int op)
        where T : unmanaged where TE : struct, IElement<T>
    {
        l.Locate(i, out int od, out int oa, out int ob, out _);
        var e = default(TE);
        T x = a[oa], y = b[ob];
        T r;
        switch (op)
        {
            case (int)BinaryOp.Add: r = e.Add(x, y); break;
            case (int)BinaryOp.Sub: r = e.Sub(x, y); break;
            case (int)BinaryOp.Mul: r = e.Mul(x, y); break;
            case (int)BinaryOp.Div: r = e.Div(x, y); break;
            case (int)BinaryOp.Maximum: r = e.Maximum(x, y); break;
            case (int)BinaryOp.Minimum: r = e.Minimum(x, y); break;
            case (int)BinaryOp.ReluBackward: r = e.Lt(e.FromLong(0), y) ? x : e.FromLong(0); break;
            case (int)BinaryOp.Relu6Backward: r = e.Lt(e.FromLong(0), y) && e.Lt(y, e.FromLong(6)) ? x : e.FromLong(0); break;
            default: r = e.Pow(x, y); break;
        }
        dst[od] = r;
    }

    /// <summary>Comparisons Eq..Ge into bool; NaN compares false except for Ne.</summary>
    public static void Compare<T, TE>(Index1D i, ArrayView1D<T, Stride1D.Dense> a, ArrayView1D<T, Stride1D.Dense> b,
        ArrayView1D<byte, Stride1D.Dense> dst, Layout4 l, int op)
        where T : unmanaged where TE : struct, IElement<T>
    {
        l.Locate(i, out int od, out int oa, out int ob, out _);
        var e = default(TE);
        T x = a[oa], y = b[ob];
        bool r;
        switch (op)
        {
            case (int)BinaryOp.Eq: r = e.Eq(x, y); break;
            case (int)BinaryOp.Ne: r = !e.Eq(x, y); break;
            case (int)BinaryOp.Lt: r = e.Lt(x, y); break;
            case (int)BinaryOp.Le: r = e.Le(x, y); break;
            case (int)BinaryOp.Gt: r = e.Lt(y, x); break;
            default: r = e.Le(y, x); break;
        }
        dst[od] = r ? (byte)1 : (byte)0;
    }

    /// <summary>Bool logic: op 0 = and, 1 = or, 2 = not (b ignored).</summary>
    public static void Logical(Index1D i, ArrayView1D<byte, Stride1D.Dense> a, ArrayView1D<byte, Stride1D.Dense> b,
        ArrayView1D<byte, Stride1D.Dense> dst, Layout4 l, int op)
    {
        l.Locate(i, out int od, out int oa, out int ob, out _);
        int x = a[oa], y = b[ob];
        int r = op == 0 ? x & y : op == 1 ? x | y : x ^ 1;
        dst[od] = (byte)r;
    }

    /// <summary>dst = cond ? a : b.</summary>
    public static void Where<T>(Index1D i, ArrayView1D<byte, Stride1D.Dense> cond, ArrayView1D<T, Stride1D.Dense> a,
        ArrayView1D<T, Stride1D.Dense> b, ArrayView1D<T, Stride1D.Dense> dst, Layout4 l)
        where T : unmanaged
    {
        l.Locate(i, out int od, out int oc, out int oa, out int ob);
        dst[od] = cond[oc] != 0 ? a[oa] : b[ob];
    }
}
