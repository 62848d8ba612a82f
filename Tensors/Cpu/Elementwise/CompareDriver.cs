using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Sparkle.Tensors.Cpu.Elementwise;

/// <summary>
/// Runs bool dst = op(a, b) (comparisons) and bool dst = pred(x) (IsFinite). Rows with contiguous dst and
/// contiguous or broadcast operands compare whole vectors and turn the lane masks into bool bytes;
/// other layouts loop over elements. Comparisons are exact, so both paths agree.
/// </summary>
internal static class CompareDriver
{
    /// <summary><paramref name="width"/>: the backend's vector width, as for the other drivers (Scalar: element loops).</summary>
    public static void Run<T, TOp>(SimdWidth width, TOp op, Tensor a, Tensor b, Tensor dst)
        where T : unmanaged where TOp : struct, ICompareKernel<T>
    {
        if (dst.NumElements == 0) return;
        T[] az = ElementData.Array<T>(a), bz = ElementData.Array<T>(b);
        byte[] dz = ElementData.Array<byte>(dst);
        var plan = new StridedPlan(dst.Shape, dst, a, b);
        int sd = plan.InnerStride(0), sa = plan.InnerStride(1), sb = plan.InnerStride(2);
        plan.ParallelRows((o, n) => Row(width, op, ref ElementData.At(az, o[1]), sa, ref ElementData.At(bz, o[2]), sb,
            ref ElementData.At(dz, o[0]), sd, n));
    }

    private static void Row<T, TOp>(SimdWidth width, in TOp op, ref T a, int sa, ref T b, int sb, ref byte d, int sd, int n)
        where T : unmanaged where TOp : struct, ICompareKernel<T>
    {
        int i = 0;
        if (sd == 1 && sa is 0 or 1 && sb is 0 or 1)
        {
            if (width == SimdWidth.V512)
            {
                var a0 = Vector512.Create(a);
                var b0 = Vector512.Create(b);
                for (int w = Vector512<T>.Count; i <= n - w; i += w)
                {
                    var va = sa == 1 ? Vector512.LoadUnsafe(ref a, (nuint)i) : a0;
                    var vb = sb == 1 ? Vector512.LoadUnsafe(ref b, (nuint)i) : b0;
                    BoolLanes.Store(op.Invoke(va, vb).ExtractMostSignificantBits(), w, ref Unsafe.Add(ref d, i));
                }
            }
            else if (width == SimdWidth.V256)
            {
                var a0 = Vector256.Create(a);
                var b0 = Vector256.Create(b);
                for (int w = Vector256<T>.Count; i <= n - w; i += w)
                {
                    var va = sa == 1 ? Vector256.LoadUnsafe(ref a, (nuint)i) : a0;
                    var vb = sb == 1 ? Vector256.LoadUnsafe(ref b, (nuint)i) : b0;
                    BoolLanes.Store(op.Invoke(va, vb).ExtractMostSignificantBits(), w, ref Unsafe.Add(ref d, i));
                }
            }
            else if (width == SimdWidth.V128)
            {
                var a0 = Vector128.Create(a);
                var b0 = Vector128.Create(b);
                for (int w = Vector128<T>.Count; i <= n - w; i += w)
                {
                    var va = sa == 1 ? Vector128.LoadUnsafe(ref a, (nuint)i) : a0;
                    var vb = sb == 1 ? Vector128.LoadUnsafe(ref b, (nuint)i) : b0;
                    BoolLanes.Store(op.Invoke(va, vb).ExtractMostSignificantBits(), w, ref Unsafe.Add(ref d, i));
                }
            }
        }
        for (; i < n; i++)
            Unsafe.Add(ref d, i * sd) = op.Invoke(Unsafe.Add(ref a, i * sa), Unsafe.Add(ref b, i * sb)) ? (byte)1 : (byte)0;
    }

    public static void RunPredicate<T, TOp>(SimdWidth width, TOp op, Tensor x, Tensor dst)
        where T : unmanaged where TOp : struct, IPredicateKernel<T>
    {
        if (dst.NumElements == 0) return;
        T[] xz = ElementData.Array<T>(x);
        byte[] dz = ElementData.Array<byte>(dst);
        var plan = new StridedPlan(dst.Shape, dst, x);
        int sd = plan.InnerStride(0), sx = plan.InnerStride(1);
        plan.ParallelRows((o, n) => PredicateRow(width, op, ref ElementData.At(xz, o[1]), sx, ref ElementData.At(dz, o[0]), sd, n));
    }

    private static void PredicateRow<T, TOp>(SimdWidth width, in TOp op, ref T x, int sx, ref byte d, int sd, int n)
        where T : unmanaged where TOp : struct, IPredicateKernel<T>
    {
        int i = 0;
        if (sd == 1 && sx == 1)
        {
            if (width == SimdWidth.V512)
            {
                for (int w = Vector512<T>.Count; i <= n - w; i += w)
                    BoolLanes.Store(op.Invoke(Vector512.LoadUnsafe(ref x, (nuint)i)).ExtractMostSignificantBits(), w, ref Unsafe.Add(ref d, i));
            }
            else if (width == SimdWidth.V256)
            {
                for (int w = Vector256<T>.Count; i <= n - w; i += w)
                    BoolLanes.Store(op.Invoke(Vector256.LoadUnsafe(ref x, (nuint)i)).ExtractMostSignificantBits(), w, ref Unsafe.Add(ref d, i));
            }
            else if (width == SimdWidth.V128)
            {
                for (int w = Vector128<T>.Count; i <= n - w; i += w)
                    BoolLanes.Store(op.Invoke(Vector128.LoadUnsafe(ref x, (nuint)i)).ExtractMostSignificantBits(), w, ref Unsafe.Add(ref d, i));
            }
        }
        for (; i < n; i++) Unsafe.Add(ref d, i * sd) = op.Invoke(Unsafe.Add(ref x, i * sx)) ? (byte)1 : (byte)0;
    }
}
