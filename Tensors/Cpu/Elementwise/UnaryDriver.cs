using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Sparkle.Tensors.Cpu.Elementwise;

/// <summary>
/// Runs dst = op(x) over any strides. Rows come from <see cref="StridedPlan"/> and are spread over the
/// intra-op pool. Per row: contiguous -> SIMD at the options' width (<see cref="SimdWidth"/>) with the tail done as
/// one more vector on a gathered block; broadcast (stride 0) -> one value, filled; other strides -> gathered into a
/// Vector256 block (Vector128 at width 128), computed, scattered. Scalar-only ops, and every op at width Scalar, loop
/// over elements (same bits: an op's scalar form is one lane of its vector form).
/// dst may be x itself (in place): each block is read before it is written.
/// </summary>
internal static class UnaryDriver
{
    /// <summary>Elements per parallel chunk for cheap ops; expensive ops pass a smaller grain.</summary>
    public const int CheapGrain = 1 << 15, ExpensiveGrain = 1 << 12;

    /// <summary><paramref name="width"/>: the backend's vector width (<see cref="CpuKernelOptions.Width"/>).</summary>
    public static void Run<T, TOp>(SimdWidth width, TOp op, Tensor x, Tensor dst, int grain = CheapGrain)
        where T : unmanaged where TOp : struct, IUnaryKernel<T>
    {
        if (dst.NumElements == 0) return;
        T[] xs = ElementData.Array<T>(x), ds = ElementData.Array<T>(dst);
        var plan = new StridedPlan(dst.Shape, dst, x);
        int sd = plan.InnerStride(0), sx = plan.InnerStride(1);
        plan.ParallelRows((o, n) => Row(width, op, ref ElementData.At(xs, o[1]), sx, ref ElementData.At(ds, o[0]), sd, n), grain);
    }

    private static void Row<T, TOp>(SimdWidth width, in TOp op, ref T x, int sx, ref T d, int sd, int n)
        where T : unmanaged where TOp : struct, IUnaryKernel<T>
    {
        if (!TOp.Vectorizable || width == SimdWidth.Scalar)
        {
            for (int i = 0; i < n; i++) Unsafe.Add(ref d, i * sd) = op.Invoke(Unsafe.Add(ref x, i * sx));
            return;
        }
        if (sx == 0)
        {
            T v = op.Invoke(x);
            for (int i = 0; i < n; i++) Unsafe.Add(ref d, i * sd) = v;
            return;
        }
        if (sx == 1 && sd == 1) Contiguous(width, op, ref x, ref d, n);
        else Gathered(width, op, ref x, sx, ref d, sd, n);
    }

    private static void Contiguous<T, TOp>(SimdWidth width, in TOp op, ref T x, ref T d, int n)
        where T : unmanaged where TOp : struct, IUnaryKernel<T>
    {
        int i = 0;
        if (width == SimdWidth.V512)
        {
            for (int w = Vector512<T>.Count; i <= n - w; i += w)
                op.Invoke(Vector512.LoadUnsafe(ref x, (nuint)i)).StoreUnsafe(ref d, (nuint)i);
        }
        else if (width == SimdWidth.V256)
        {
            int w = Vector256<T>.Count;
            for (; i <= n - 4 * w; i += 4 * w)
            {
                var r0 = op.Invoke(Vector256.LoadUnsafe(ref x, (nuint)i));
                var r1 = op.Invoke(Vector256.LoadUnsafe(ref x, (nuint)(i + w)));
                var r2 = op.Invoke(Vector256.LoadUnsafe(ref x, (nuint)(i + 2 * w)));
                var r3 = op.Invoke(Vector256.LoadUnsafe(ref x, (nuint)(i + 3 * w)));
                r0.StoreUnsafe(ref d, (nuint)i);
                r1.StoreUnsafe(ref d, (nuint)(i + w));
                r2.StoreUnsafe(ref d, (nuint)(i + 2 * w));
                r3.StoreUnsafe(ref d, (nuint)(i + 3 * w));
            }
            for (; i <= n - w; i += w)
                op.Invoke(Vector256.LoadUnsafe(ref x, (nuint)i)).StoreUnsafe(ref d, (nuint)i);
        }
        else
        {
            // Four independent vectors per step, as at 256 bits: ARM64 cores have four 128-bit pipes to fill.
            int w = Vector128<T>.Count;
            for (; i <= n - 4 * w; i += 4 * w)
            {
                var r0 = op.Invoke(Vector128.LoadUnsafe(ref x, (nuint)i));
                var r1 = op.Invoke(Vector128.LoadUnsafe(ref x, (nuint)(i + w)));
                var r2 = op.Invoke(Vector128.LoadUnsafe(ref x, (nuint)(i + 2 * w)));
                var r3 = op.Invoke(Vector128.LoadUnsafe(ref x, (nuint)(i + 3 * w)));
                r0.StoreUnsafe(ref d, (nuint)i);
                r1.StoreUnsafe(ref d, (nuint)(i + w));
                r2.StoreUnsafe(ref d, (nuint)(i + 2 * w));
                r3.StoreUnsafe(ref d, (nuint)(i + 3 * w));
            }
            for (; i <= n - w; i += w)
                op.Invoke(Vector128.LoadUnsafe(ref x, (nuint)i)).StoreUnsafe(ref d, (nuint)i);
        }
        if (i < n) Gathered(width, op, ref Unsafe.Add(ref x, i), 1, ref Unsafe.Add(ref d, i), 1, n - i);
    }

    /// <summary>Any strides: blocks of Vector256&lt;T&gt;.Count elements (Vector128 at width 128) gathered, computed, scattered.</summary>
    private static void Gathered<T, TOp>(SimdWidth width, in TOp op, ref T x, int sx, ref T d, int sd, int n)
        where T : unmanaged where TOp : struct, IUnaryKernel<T>
    {
        if (width == SimdWidth.V128)
        {
            int w1 = Vector128<T>.Count;
            Span<T> b1 = stackalloc T[w1];
            for (int i = 0; i < n; i += w1)
            {
                int m = Math.Min(w1, n - i);
                for (int k = 0; k < m; k++) b1[k] = Unsafe.Add(ref x, (i + k) * sx);
                op.Invoke(Vector128.Create<T>(b1)).CopyTo(b1);
                for (int k = 0; k < m; k++) Unsafe.Add(ref d, (i + k) * sd) = b1[k];
            }
            return;
        }
        int w = Vector256<T>.Count;
        Span<T> buf = stackalloc T[w];
        for (int i = 0; i < n; i += w)
        {
            int m = Math.Min(w, n - i);
            for (int k = 0; k < m; k++) buf[k] = Unsafe.Add(ref x, (i + k) * sx);
            op.Invoke(Vector256.Create<T>(buf)).CopyTo(buf);
            for (int k = 0; k < m; k++) Unsafe.Add(ref d, (i + k) * sd) = buf[k];
        }
    }
}
