using System.Numerics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Sparkle.Tensors.Backend;
using Sparkle.Tensors.Cpu.Elementwise;

namespace Sparkle.Tensors.Cpu.Norm;

/// <summary>
/// The activation fused into a kernel's own rows: applied in place right after the row is written (forward), or the
/// output gradient masked by its derivative into a scratch row (backward). The element ops are the elementwise
/// backend's (ReluOp, Relu6Op, ReluBackwardOp, Relu6BackwardOp), so a fused BN+ReLU gives the same bits as BN then
/// Relu().
/// </summary>
internal static class FusedActivation
{
    /// <summary>row = act(row), in place.</summary>
    public static void Apply<T>(Activation act, Span<T> row) where T : unmanaged, INumber<T>
    {
        switch (act)
        {
            case Activation.Relu: Unary(default(ReluOp<T>), row); break;
            case Activation.Relu6: Unary(default(Relu6Op<T>), row); break;
        }
    }

    /// <summary>dst = g where act'(y) is 1, else 0. Only for act != None (the caller uses g itself then).</summary>
    public static void Mask<T>(Activation act, ReadOnlySpan<T> g, ReadOnlySpan<T> y, Span<T> dst) where T : unmanaged, INumber<T>
    {
        switch (act)
        {
            case Activation.Relu: Binary(default(ReluBackwardOp<T>), g, y, dst); break;
            case Activation.Relu6: Binary(default(Relu6BackwardOp<T>), g, y, dst); break;
            default: throw new ArgumentOutOfRangeException(nameof(act));
        }
    }

    private static void Unary<T, TOp>(TOp op, Span<T> row) where T : unmanaged where TOp : struct, IUnaryKernel<T>
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated && Vector512<T>.IsSupported)
        {
            var v = MemoryMarshal.Cast<T, Vector512<T>>(row);
            for (int k = 0; k < v.Length; k++) v[k] = op.Invoke(v[k]);
            i = v.Length * Vector512<T>.Count;
        }
        else if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported)
        {
            var v = MemoryMarshal.Cast<T, Vector256<T>>(row);
            for (int k = 0; k < v.Length; k++) v[k] = op.Invoke(v[k]);
            i = v.Length * Vector256<T>.Count;
        }
        for (; i < row.Length; i++) row[i] = op.Invoke(row[i]);
    }

    private static void Binary<T, TOp>(TOp op, ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> dst) where T : unmanaged where TOp : struct, IBinaryKernel<T>
    {
        int i = 0, n = dst.Length;
        if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported)
        {
            int w = Vector256<T>.Count;
            for (; i + w <= n; i += w)
                op.Invoke(Vector256.Create(a.Slice(i, w)), Vector256.Create(b.Slice(i, w))).CopyTo(dst.Slice(i, w));
        }
        for (; i < n; i++) dst[i] = op.Invoke(a[i], b[i]);
    }
}
