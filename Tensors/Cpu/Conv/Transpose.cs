using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Sparkle.Tensors.Cpu.Conv;

/// <summary>Matrix transpose between the layouts (channels-first planes and channels-last pixels), in 8x8 blocks of
/// float with AVX shuffles (8 loads, 24 shuffles, 8 stores per 64 elements) and scalar elsewhere.</summary>
internal static class Transpose
{
    /// <summary>dst[j·dstStride + i] = src[i·srcStride + j] for i &lt; m, j &lt; n.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run<T>(ref T src, int srcStride, ref T dst, int dstStride, int m, int n) where T : unmanaged
    {
        int i0 = 0;
        if (typeof(T) == typeof(float) && Avx.IsSupported)
        {
            ref float s = ref Unsafe.As<T, float>(ref src);
            ref float d = ref Unsafe.As<T, float>(ref dst);
            for (; i0 + 8 <= m; i0 += 8)
            {
                int j0 = 0;
                for (; j0 + 8 <= n; j0 += 8) Block8(ref Unsafe.Add(ref s, i0 * srcStride + j0), srcStride, ref Unsafe.Add(ref d, j0 * dstStride + i0), dstStride);
                for (int i = i0; i < i0 + 8; i++)
                    for (int j = j0; j < n; j++) Unsafe.Add(ref d, j * dstStride + i) = Unsafe.Add(ref s, i * srcStride + j);
            }
        }
        for (int i = i0; i < m; i++)
            for (int j = 0; j < n; j++) Unsafe.Add(ref dst, j * dstStride + i) = Unsafe.Add(ref src, i * srcStride + j);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Block8(ref float s, int ss, ref float d, int ds)
    {
        var r0 = Vector256.LoadUnsafe(ref s); var r1 = Vector256.LoadUnsafe(ref s, (nuint)ss);
        var r2 = Vector256.LoadUnsafe(ref s, (nuint)(2 * ss)); var r3 = Vector256.LoadUnsafe(ref s, (nuint)(3 * ss));
        var r4 = Vector256.LoadUnsafe(ref s, (nuint)(4 * ss)); var r5 = Vector256.LoadUnsafe(ref s, (nuint)(5 * ss));
        var r6 = Vector256.LoadUnsafe(ref s, (nuint)(6 * ss)); var r7 = Vector256.LoadUnsafe(ref s, (nuint)(7 * ss));
        var t0 = Avx.UnpackLow(r0, r1); var t1 = Avx.UnpackHigh(r0, r1);
        var t2 = Avx.UnpackLow(r2, r3); var t3 = Avx.UnpackHigh(r2, r3);
        var t4 = Avx.UnpackLow(r4, r5); var t5 = Avx.UnpackHigh(r4, r5);
        var t6 = Avx.UnpackLow(r6, r7); var t7 = Avx.UnpackHigh(r6, r7);
        var u0 = Avx.Shuffle(t0, t2, 0x44); var u1 = Avx.Shuffle(t0, t2, 0xEE);
        var u2 = Avx.Shuffle(t1, t3, 0x44); var u3 = Avx.Shuffle(t1, t3, 0xEE);
        var u4 = Avx.Shuffle(t4, t6, 0x44); var u5 = Avx.Shuffle(t4, t6, 0xEE);
        var u6 = Avx.Shuffle(t5, t7, 0x44); var u7 = Avx.Shuffle(t5, t7, 0xEE);
        Avx.Permute2x128(u0, u4, 0x20).StoreUnsafe(ref d);
        Avx.Permute2x128(u1, u5, 0x20).StoreUnsafe(ref d, (nuint)ds);
        Avx.Permute2x128(u2, u6, 0x20).StoreUnsafe(ref d, (nuint)(2 * ds));
        Avx.Permute2x128(u3, u7, 0x20).StoreUnsafe(ref d, (nuint)(3 * ds));
        Avx.Permute2x128(u0, u4, 0x31).StoreUnsafe(ref d, (nuint)(4 * ds));
        Avx.Permute2x128(u1, u5, 0x31).StoreUnsafe(ref d, (nuint)(5 * ds));
        Avx.Permute2x128(u2, u6, 0x31).StoreUnsafe(ref d, (nuint)(6 * ds));
        Avx.Permute2x128(u3, u7, 0x31).StoreUnsafe(ref d, (nuint)(7 * ds));
    }
}
