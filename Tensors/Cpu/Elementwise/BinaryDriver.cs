using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Sparkle.Tensors.Cpu.Elementwise;

/// <summary>
/// Runs dst = op(a, b) over any strides (broadcast as stride 0). Per row of the <see cref="StridedPlan"/>:
/// both contiguous -> SIMD; one contiguous and one broadcast (a scalar along the row, e.g. a per-channel bias
/// on NCHW) -> SIMD against a splatted vector; anything else -> gathered Vector256 blocks (Vector128 at width 128).
/// At width Scalar every row loops over elements. dst may be a or b itself with the same layout (in place).
/// </summary>
internal static class BinaryDriver
{
    /// <summary><paramref name="width"/>: the backend's vector width (<see cref="CpuKernelOptions.Width"/>).</summary>
    public static void Run<T, TOp>(SimdWidth width, TOp op, Tensor a, Tensor b, Tensor dst, int grain = UnaryDriver.CheapGrain)
        where T : unmanaged where TOp : struct, IBinaryKernel<T>
    {
        if (dst.NumElements == 0) return;
        T[] az = ElementData.Array<T>(a), bz = ElementData.Array<T>(b), dz = ElementData.Array<T>(dst);
        var plan = new StridedPlan(dst.Shape, dst, a, b);
        int sd = plan.InnerStride(0), sa = plan.InnerStride(1), sb = plan.InnerStride(2);
        plan.ParallelRows((o, n) => Row(width, op, ref ElementData.At(az, o[1]), sa, ref ElementData.At(bz, o[2]), sb,
            ref ElementData.At(dz, o[0]), sd, n), grain);
    }

    private static void Row<T, TOp>(SimdWidth width, in TOp op, ref T a, int sa, ref T b, int sb, ref T d, int sd, int n)
        where T : unmanaged where TOp : struct, IBinaryKernel<T>
    {
        if (!TOp.Vectorizable || width == SimdWidth.Scalar)
        {
            for (int i = 0; i < n; i++) Unsafe.Add(ref d, i * sd) = op.Invoke(Unsafe.Add(ref a, i * sa), Unsafe.Add(ref b, i * sb));
            return;
        }
        if (sa == 0 && sb == 0)
        {
            T v = op.Invoke(a, b);
            for (int i = 0; i < n; i++) Unsafe.Add(ref d, i * sd) = v;
            return;
        }
        if (sd == 1)
        {
            if (sa == 1 && sb == 1) { BothContiguous(width, op, ref a, ref b, ref d, n); return; }
            if (sa == 1 && sb == 0) { ContiguousAndScalar(width, op, ref a, b, ref d, n, scalarOnLeft: false); return; }
            if (sa == 0 && sb == 1) { ContiguousAndScalar(width, op, ref b, a, ref d, n, scalarOnLeft: true); return; }
        }
        Gathered(width, op, ref a, sa, ref b, sb, ref d, sd, n);
    }

    private static void BothContiguous<T, TOp>(SimdWidth width, in TOp op, ref T a, ref T b, ref T d, int n)
        where T : unmanaged where TOp : struct, IBinaryKernel<T>
    {
        int i = 0;
        if (width == SimdWidth.V512)
        {
            for (int w = Vector512<T>.Count; i <= n - w; i += w)
                op.Invoke(Vector512.LoadUnsafe(ref a, (nuint)i), Vector512.LoadUnsafe(ref b, (nuint)i)).StoreUnsafe(ref d, (nuint)i);
        }
        else if (width == SimdWidth.V256)
        {
            int w = Vector256<T>.Count;
            for (; i <= n - 4 * w; i += 4 * w)
            {
                var r0 = op.Invoke(Vector256.LoadUnsafe(ref a, (nuint)i), Vector256.LoadUnsafe(ref b, (nuint)i));
                var r1 = op.Invoke(Vector256.LoadUnsafe(ref a, (nuint)(i + w)), Vector256.LoadUnsafe(ref b, (nuint)(i + w)));
                var r2 = op.Invoke(Vector256.LoadUnsafe(ref a, (nuint)(i + 2 * w)), Vector256.LoadUnsafe(ref b, (nuint)(i + 2 * w)));
                var r3 = op.Invoke(Vector256.LoadUnsafe(ref a, (nuint)(i + 3 * w)), Vector256.LoadUnsafe(ref b, (nuint)(i + 3 * w)));
                r0.StoreUnsafe(ref d, (nuint)i);
                r1.StoreUnsafe(ref d, (nuint)(i + w));
                r2.StoreUnsafe(ref d, (nuint)(i + 2 * w));
                r3.StoreUnsafe(ref d, (nuint)(i + 3 * w));
            }
            for (; i <= n - w; i += w)
                op.Invoke(Vector256.LoadUnsafe(ref a, (nuint)i), Vector256.LoadUnsafe(ref b, (nuint)i)).StoreUnsafe(ref d, (nuint)i);
        }
        else
        {
            int w = Vector128<T>.Count;
            for (; i <= n - 4 * w; i += 4 * w)
            {
                var r0 = op.Invoke(Vector128.LoadUnsafe(ref a, (nuint)i), Vector128.LoadUnsafe(ref b, (nuint)i));
                var r1 = op.Invoke(Vector128.LoadUnsafe(ref a, (nuint)(i + w)), Vector128.LoadUnsafe(ref b, (nuint)(i + w)));
                var r2 = op.Invoke(Vector128.LoadUnsafe(ref a, (nuint)(i + 2 * w)), Vector128.LoadUnsafe(ref b, (nuint)(i + 2 * w)));
                var r3 = op.Invoke(Vector128.LoadUnsafe(ref a, (nuint)(i + 3 * w)), Vector128.LoadUnsafe(ref b, (nuint)(i + 3 * w)));
                r0.StoreUnsafe(ref d, (nuint)i);
                r1.StoreUnsafe(ref d, (nuint)(i + w));
                r2.StoreUnsafe(ref d, (nuint)(i + 2 * w));
                r3.StoreUnsafe(ref d, (nuint)(i + 3 * w));
            }
            for (; i <= n - w; i += w)
                op.Invoke(Vector128.LoadUnsafe(ref a, (nuint)i), Vector128.LoadUnsafe(ref b, (nuint)i)).StoreUnsafe(ref d, (nuint)i);
        }
        if (i < n) Gathered(width, op, ref Unsafe.Add(ref a, i), 1, ref Unsafe.Add(ref b, i), 1, ref Unsafe.Add(ref d, i), 1, n - i);
    }

    /// <summary>One operand contiguous (v), the other one value for the whole row (s).</summary>
    private static void ContiguousAndScalar<T, TOp>(SimdWidth width, in TOp op, ref T v, T s, ref T d, int n, bool scalarOnLeft)
        where T : unmanaged where TOp : struct, IBinaryKernel<T>
    {
        int i = 0;
        if (width == SimdWidth.V512)
        {
            var sv = Vector512.Create(s);
            for (int w = Vector512<T>.Count; i <= n - w; i += w)
            {
                var x = Vector512.LoadUnsafe(ref v, (nuint)i);
                (scalarOnLeft ? op.Invoke(sv, x) : op.Invoke(x, sv)).StoreUnsafe(ref d, (nuint)i);
            }
        }
        else if (width == SimdWidth.V256)
        {
            var sv = Vector256.Create(s);
            int w = Vector256<T>.Count;
            if (scalarOnLeft)
            {
                for (; i <= n - 2 * w; i += 2 * w)
                {
                    var r0 = op.Invoke(sv, Vector256.LoadUnsafe(ref v, (nuint)i));
                    var r1 = op.Invoke(sv, Vector256.LoadUnsafe(ref v, (nuint)(i + w)));
                    r0.StoreUnsafe(ref d, (nuint)i);
                    r1.StoreUnsafe(ref d, (nuint)(i + w));
                }
            }
            else
            {
                for (; i <= n - 2 * w; i += 2 * w)
                {
                    var r0 = op.Invoke(Vector256.LoadUnsafe(ref v, (nuint)i), sv);
                    var r1 = op.Invoke(Vector256.LoadUnsafe(ref v, (nuint)(i + w)), sv);
                    r0.StoreUnsafe(ref d, (nuint)i);
                    r1.StoreUnsafe(ref d, (nuint)(i + w));
                }
            }
            for (; i <= n - w; i += w)
            {
                var x = Vector256.LoadUnsafe(ref v, (nuint)i);
                (scalarOnLeft ? op.Invoke(sv, x) : op.Invoke(x, sv)).StoreUnsafe(ref d, (nuint)i);
            }
        }
        else
        {
            var sv = Vector128.Create(s);
            for (int w = Vector128<T>.Count; i <= n - w; i += w)
            {
                var x = Vector128.LoadUnsafe(ref v, (nuint)i);
                (scalarOnLeft ? op.Invoke(sv, x) : op.Invoke(x, sv)).StoreUnsafe(ref d, (nuint)i);
            }
        }
        if (i < n)
        {
            ref T rest = ref Unsafe.Add(ref v, i);
            if (scalarOnLeft) Gathered(width, op, ref s, 0, ref rest, 1, ref Unsafe.Add(ref d, i), 1, n - i);
            else Gathered(width, op, ref rest, 1, ref s, 0, ref Unsafe.Add(ref d, i), 1, n - i);
        }
    }

    private static void Gathered<T, TOp>(SimdWidth width, in TOp op, ref T a, int sa, ref T b, int sb, ref T d, int sd, int n)
        where T : unmanaged where TOp : struct, IBinaryKernel<T>
    {
        if (width == SimdWidth.V128)
        {
            int w1 = Vector128<T>.Count;
            Span<T> a1 = stackalloc T[w1];
            Span<T> b1 = stackalloc T[w1];
            for (int i = 0; i < n; i += w1)
            {
                int m = Math.Min(w1, n - i);
                for (int k = 0; k < m; k++)
                {
                    a1[k] = Unsafe.Add(ref a, (i + k) * sa);
                    b1[k] = Unsafe.Add(ref b, (i + k) * sb);
                }
                op.Invoke(Vector128.Create<T>(a1), Vector128.Create<T>(b1)).CopyTo(a1);
                for (int k = 0; k < m; k++) Unsafe.Add(ref d, (i + k) * sd) = a1[k];
            }
            return;
        }
        int w = Vector256<T>.Count;
        Span<T> ba = stackalloc T[w];
        Span<T> bb = stackalloc T[w];
        for (int i = 0; i < n; i += w)
        {
            int m = Math.Min(w, n - i);
            for (int k = 0; k < m; k++)
            {
                ba[k] = Unsafe.Add(ref a, (i + k) * sa);
                bb[k] = Unsafe.Add(ref b, (i + k) * sb);
            }
            op.Invoke(Vector256.Create<T>(ba), Vector256.Create<T>(bb)).CopyTo(ba);
            for (int k = 0; k < m; k++) Unsafe.Add(ref d, (i + k) * sd) = ba[k];
        }
    }
}
