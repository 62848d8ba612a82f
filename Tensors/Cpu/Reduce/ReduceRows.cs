using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Sparkle.Tensors.Cpu.Elementwise;

namespace Sparkle.Tensors.Cpu.Reduce;

/// <summary>The two SIMD loops of a reduction: along a contiguous row, and across contiguous rows.</summary>
internal static class ReduceRows
{
    /// <summary>Combine of Map(x[i], center) over a contiguous row, with four vector accumulators; the
    /// accumulators, then their lanes, then the scalar tail are combined in a fixed order. The order is fixed per
    /// width (so never depends on threads); between widths a sum may differ in the last bits, max and min may not.</summary>
    public static T Along<T, TK>(ref T x, int n, T center, SimdWidth width) where T : unmanaged where TK : IReduceKernel<T>
    {
        int i = 0;
        T r = TK.Identity;
        if (width == SimdWidth.V512)
        {
            int w = Vector512<T>.Count;
            if (n >= w)
            {
                var c = Vector512.Create(center);
                Vector512<T> a0 = Vector512.Create(TK.Identity), a1 = a0, a2 = a0, a3 = a0;
                for (; i <= n - 4 * w; i += 4 * w)
                {
                    a0 = TK.Combine(a0, TK.Map(Vector512.LoadUnsafe(ref x, (nuint)i), c));
                    a1 = TK.Combine(a1, TK.Map(Vector512.LoadUnsafe(ref x, (nuint)(i + w)), c));
                    a2 = TK.Combine(a2, TK.Map(Vector512.LoadUnsafe(ref x, (nuint)(i + 2 * w)), c));
                    a3 = TK.Combine(a3, TK.Map(Vector512.LoadUnsafe(ref x, (nuint)(i + 3 * w)), c));
                }
                for (; i <= n - w; i += w) a0 = TK.Combine(a0, TK.Map(Vector512.LoadUnsafe(ref x, (nuint)i), c));
                var a = TK.Combine(TK.Combine(a0, a1), TK.Combine(a2, a3));
                r = Horizontal<T, TK>(TK.Combine(a.GetLower(), a.GetUpper()));
            }
        }
        else if (width == SimdWidth.V256)
        {
            int w = Vector256<T>.Count;
            if (n >= w)
            {
                var c = Vector256.Create(center);
                Vector256<T> a0 = Vector256.Create(TK.Identity), a1 = a0, a2 = a0, a3 = a0;
                for (; i <= n - 4 * w; i += 4 * w)
                {
                    a0 = TK.Combine(a0, TK.Map(Vector256.LoadUnsafe(ref x, (nuint)i), c));
                    a1 = TK.Combine(a1, TK.Map(Vector256.LoadUnsafe(ref x, (nuint)(i + w)), c));
                    a2 = TK.Combine(a2, TK.Map(Vector256.LoadUnsafe(ref x, (nuint)(i + 2 * w)), c));
                    a3 = TK.Combine(a3, TK.Map(Vector256.LoadUnsafe(ref x, (nuint)(i + 3 * w)), c));
                }
                for (; i <= n - w; i += w) a0 = TK.Combine(a0, TK.Map(Vector256.LoadUnsafe(ref x, (nuint)i), c));
                r = Horizontal<T, TK>(TK.Combine(TK.Combine(a0, a1), TK.Combine(a2, a3)));
            }
        }
        else if (width == SimdWidth.V128)
        {
            int w = Vector128<T>.Count;
            if (n >= w)
            {
                var c = Vector128.Create(center);
                Vector128<T> a0 = Vector128.Create(TK.Identity), a1 = a0, a2 = a0, a3 = a0;
                for (; i <= n - 4 * w; i += 4 * w)
                {
                    a0 = TK.Combine(a0, TK.Map(Vector128.LoadUnsafe(ref x, (nuint)i), c));
                    a1 = TK.Combine(a1, TK.Map(Vector128.LoadUnsafe(ref x, (nuint)(i + w)), c));
                    a2 = TK.Combine(a2, TK.Map(Vector128.LoadUnsafe(ref x, (nuint)(i + 2 * w)), c));
                    a3 = TK.Combine(a3, TK.Map(Vector128.LoadUnsafe(ref x, (nuint)(i + 3 * w)), c));
                }
                for (; i <= n - w; i += w) a0 = TK.Combine(a0, TK.Map(Vector128.LoadUnsafe(ref x, (nuint)i), c));
                r = Lanes<T, TK>(TK.Combine(TK.Combine(a0, a1), TK.Combine(a2, a3)));
            }
        }
        for (; i < n; i++) r = TK.Combine(r, TK.Map(Unsafe.Add(ref x, i), center));
        return r;
    }

    /// <summary>Lanes folded in a fixed tree: halves, then the last Vector128 lane by lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static T Horizontal<T, TK>(Vector256<T> a) where T : unmanaged where TK : IReduceKernel<T>
        => Lanes<T, TK>(TK.Combine(a.GetLower(), a.GetUpper()));

    /// <summary>The lanes of one Vector128, first to last.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static T Lanes<T, TK>(Vector128<T> h) where T : unmanaged where TK : IReduceKernel<T>
    {
        T r = h.GetElement(0);
        for (int k = 1; k < Vector128<T>.Count; k++) r = TK.Combine(r, h.GetElement(k));
        return r;
    }

    /// <summary>acc[j] = Combine(acc[j], Map(x[j], centers[j])) for a contiguous row x (centers unused unless the kernel needs them).
    /// Each position is combined in the same order whatever the vector width, so results do not depend on it.</summary>
    public static void Across<T, TK>(Span<T> acc, ref T x, ReadOnlySpan<T> centers, SimdWidth width) where T : unmanaged where TK : IReduceKernel<T>
    {
        int n = acc.Length, i = 0;
        ref T a = ref MemoryMarshal.GetReference(acc);
        ref T c = ref TK.UsesCenter ? ref MemoryMarshal.GetReference(centers) : ref a;
        if (width == SimdWidth.V512)
        {
            for (int w = Vector512<T>.Count; i <= n - w; i += w)
            {
                var v = TK.Map(Vector512.LoadUnsafe(ref x, (nuint)i), TK.UsesCenter ? Vector512.LoadUnsafe(ref c, (nuint)i) : default);
                TK.Combine(Vector512.LoadUnsafe(ref a, (nuint)i), v).StoreUnsafe(ref a, (nuint)i);
            }
        }
        else if (width == SimdWidth.V256)
        {
            for (int w = Vector256<T>.Count; i <= n - w; i += w)
            {
                var v = TK.Map(Vector256.LoadUnsafe(ref x, (nuint)i), TK.UsesCenter ? Vector256.LoadUnsafe(ref c, (nuint)i) : default);
                TK.Combine(Vector256.LoadUnsafe(ref a, (nuint)i), v).StoreUnsafe(ref a, (nuint)i);
            }
        }
        else if (width == SimdWidth.V128)
        {
            for (int w = Vector128<T>.Count; i <= n - w; i += w)
            {
                var v = TK.Map(Vector128.LoadUnsafe(ref x, (nuint)i), TK.UsesCenter ? Vector128.LoadUnsafe(ref c, (nuint)i) : default);
                TK.Combine(Vector128.LoadUnsafe(ref a, (nuint)i), v).StoreUnsafe(ref a, (nuint)i);
            }
        }
        for (; i < n; i++)
            Unsafe.Add(ref a, i) = TK.Combine(Unsafe.Add(ref a, i), TK.Map(Unsafe.Add(ref x, i), TK.UsesCenter ? Unsafe.Add(ref c, i) : default));
    }

    /// <summary>Four rows at once: acc[j] = Combine(Combine(Combine(Combine(acc[j], m0), m1), m2), m3) with mk = Map(xk[j], centers[j]);
    /// the same order as four calls of <see cref="Across{T, TK}"/>, with a quarter of the accumulator traffic.</summary>
    public static void Across4<T, TK>(Span<T> acc, ref T x0, ref T x1, ref T x2, ref T x3, ReadOnlySpan<T> centers, SimdWidth width)
        where T : unmanaged where TK : IReduceKernel<T>
    {
        int n = acc.Length, i = 0;
        ref T a = ref MemoryMarshal.GetReference(acc);
        ref T c = ref TK.UsesCenter ? ref MemoryMarshal.GetReference(centers) : ref a;
        if (width == SimdWidth.V512)
        {
            for (int w = Vector512<T>.Count; i <= n - w; i += w)
            {
                var cv = TK.UsesCenter ? Vector512.LoadUnsafe(ref c, (nuint)i) : default;
                var r = TK.Combine(Vector512.LoadUnsafe(ref a, (nuint)i), TK.Map(Vector512.LoadUnsafe(ref x0, (nuint)i), cv));
                r = TK.Combine(r, TK.Map(Vector512.LoadUnsafe(ref x1, (nuint)i), cv));
                r = TK.Combine(r, TK.Map(Vector512.LoadUnsafe(ref x2, (nuint)i), cv));
                TK.Combine(r, TK.Map(Vector512.LoadUnsafe(ref x3, (nuint)i), cv)).StoreUnsafe(ref a, (nuint)i);
            }
        }
        else if (width == SimdWidth.V256)
        {
            for (int w = Vector256<T>.Count; i <= n - w; i += w)
            {
                var cv = TK.UsesCenter ? Vector256.LoadUnsafe(ref c, (nuint)i) : default;
                var r = TK.Combine(Vector256.LoadUnsafe(ref a, (nuint)i), TK.Map(Vector256.LoadUnsafe(ref x0, (nuint)i), cv));
                r = TK.Combine(r, TK.Map(Vector256.LoadUnsafe(ref x1, (nuint)i), cv));
                r = TK.Combine(r, TK.Map(Vector256.LoadUnsafe(ref x2, (nuint)i), cv));
                TK.Combine(r, TK.Map(Vector256.LoadUnsafe(ref x3, (nuint)i), cv)).StoreUnsafe(ref a, (nuint)i);
            }
        }
        else if (width == SimdWidth.V128)
        {
            for (int w = Vector128<T>.Count; i <= n - w; i += w)
            {
                var cv = TK.UsesCenter ? Vector128.LoadUnsafe(ref c, (nuint)i) : default;
                var r = TK.Combine(Vector128.LoadUnsafe(ref a, (nuint)i), TK.Map(Vector128.LoadUnsafe(ref x0, (nuint)i), cv));
                r = TK.Combine(r, TK.Map(Vector128.LoadUnsafe(ref x1, (nuint)i), cv));
                r = TK.Combine(r, TK.Map(Vector128.LoadUnsafe(ref x2, (nuint)i), cv));
                TK.Combine(r, TK.Map(Vector128.LoadUnsafe(ref x3, (nuint)i), cv)).StoreUnsafe(ref a, (nuint)i);
            }
        }
        for (; i < n; i++)
        {
            T cv = TK.UsesCenter ? Unsafe.Add(ref c, i) : default;
            T r = TK.Combine(Unsafe.Add(ref a, i), TK.Map(Unsafe.Add(ref x0, i), cv));
            r = TK.Combine(r, TK.Map(Unsafe.Add(ref x1, i), cv));
            r = TK.Combine(r, TK.Map(Unsafe.Add(ref x2, i), cv));
            Unsafe.Add(ref a, i) = TK.Combine(r, TK.Map(Unsafe.Add(ref x3, i), cv));
        }
    }
}
