using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Sparkle.Tensors.Cpu.Elementwise;

/// <summary>
/// Runs dst = cond ? a : b (cond bool bytes). Rows with contiguous dst whose operands are each contiguous
/// or broadcast (masked_fill: b is the tensor, a one value) select whole vectors: cond bytes widen to
/// lane masks. Other layouts loop over elements.
/// </summary>
internal static class WhereDriver
{
    /// <summary><paramref name="width"/>: the backend's vector width, as for the other drivers (Scalar: element loops).</summary>
    public static void Run<T>(SimdWidth width, Tensor cond, Tensor a, Tensor b, Tensor dst) where T : unmanaged
    {
        if (dst.NumElements == 0) return;
        byte[] cz = ElementData.Array<byte>(cond);
        T[] az = ElementData.Array<T>(a), bz = ElementData.Array<T>(b), dz = ElementData.Array<T>(dst);
        var plan = new StridedPlan(dst.Shape, dst, cond, a, b);
        int sd = plan.InnerStride(0), sc = plan.InnerStride(1), sa = plan.InnerStride(2), sb = plan.InnerStride(3);
        plan.ParallelRows((o, n) => Row(width, ref ElementData.At(cz, o[1]), sc, ref ElementData.At(az, o[2]), sa,
            ref ElementData.At(bz, o[3]), sb, ref ElementData.At(dz, o[0]), sd, n));
    }

    private static void Row<T>(SimdWidth width, ref byte c, int sc, ref T a, int sa, ref T b, int sb, ref T d, int sd, int n) where T : unmanaged
    {
        int i = 0;
        if (sd == 1 && sc is 0 or 1 && sa is 0 or 1 && sb is 0 or 1)
        {
            if (width == SimdWidth.V512)
            {
                var c0 = BoolLanes.Splat512<T>(c);
                var a0 = Vector512.Create(a);
                var b0 = Vector512.Create(b);
                for (int w = Vector512<T>.Count; i <= n - w; i += w)
                {
                    var m = sc == 1 ? BoolLanes.Mask512<T>(ref Unsafe.Add(ref c, i)) : c0;
                    var va = sa == 1 ? Vector512.LoadUnsafe(ref a, (nuint)i) : a0;
                    var vb = sb == 1 ? Vector512.LoadUnsafe(ref b, (nuint)i) : b0;
                    Vector512.ConditionalSelect(m, va, vb).StoreUnsafe(ref d, (nuint)i);
                }
            }
            else if (width == SimdWidth.V256)
            {
                var c0 = BoolLanes.Splat256<T>(c);
                var a0 = Vector256.Create(a);
                var b0 = Vector256.Create(b);
                for (int w = Vector256<T>.Count; i <= n - w; i += w)
                {
                    var m = sc == 1 ? BoolLanes.Mask256<T>(ref Unsafe.Add(ref c, i)) : c0;
                    var va = sa == 1 ? Vector256.LoadUnsafe(ref a, (nuint)i) : a0;
                    var vb = sb == 1 ? Vector256.LoadUnsafe(ref b, (nuint)i) : b0;
                    Vector256.ConditionalSelect(m, va, vb).StoreUnsafe(ref d, (nuint)i);
                }
            }
            else if (width == SimdWidth.V128)
            {
                var c0 = BoolLanes.Splat128<T>(c);
                var a0 = Vector128.Create(a);
                var b0 = Vector128.Create(b);
                for (int w = Vector128<T>.Count; i <= n - w; i += w)
                {
                    var m = sc == 1 ? BoolLanes.Mask128<T>(ref Unsafe.Add(ref c, i)) : c0;
                    var va = sa == 1 ? Vector128.LoadUnsafe(ref a, (nuint)i) : a0;
                    var vb = sb == 1 ? Vector128.LoadUnsafe(ref b, (nuint)i) : b0;
                    Vector128.ConditionalSelect(m, va, vb).StoreUnsafe(ref d, (nuint)i);
                }
            }
        }
        for (; i < n; i++)
            Unsafe.Add(ref d, i * sd) = Unsafe.Add(ref c, i * sc) != 0 ? Unsafe.Add(ref a, i * sa) : Unsafe.Add(ref b, i * sb);
    }
}
