using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using static Sparkle.Tensors.Cpu.Gemm.VectorFma;

namespace Sparkle.Tensors.Cpu.Gemm;

/// <summary>
/// 128-bit micro-kernel (ARM64 AdvSimd; SSE/AVX on x64, where it only runs when forced): an 8 x (2 vectors) tile
/// (8x8 float, 8x4 double). 16 accumulators + 2 B vectors + 1 broadcast = 19 of ARM64's 32 vector registers, so the
/// JIT keeps them all in registers. Per k: 2 B loads, 8 broadcast loads (ld1r), 16 FMAs: four cycles on four 128-bit
/// FMA pipes (Apple, Neoverse V) with loads under 3 per cycle. With hardware FMA its bits equal the other FMA kernels'.
/// </summary>
internal readonly struct MicroKernelV128<T> : IMicroKernel<T> where T : unmanaged
{
    private static int W => Vector128<T>.Count;
    public static int MR => 8;
    public static int NR => 2 * Vector128<T>.Count;
    // With KC = 256: B micro-panel KC*NR*size = 8 KB of a 64-128 KB L1d; A block MC*KC*size = 128 KB, well inside L2.
    public static int MC => typeof(T) == typeof(float) ? 128 : 64;
    public static int NC => 4096 / NR * NR;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run(int kc, ref T a, ref T b, ref T c, nint ldc, bool add)
    {
        nuint w = (nuint)W;
        CachePrefetch.Tile(ref c, ldc, MR, NR);
        Vector128<T> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default, c30 = default, c31 = default;
        Vector128<T> c40 = default, c41 = default, c50 = default, c51 = default, c60 = default, c61 = default, c70 = default, c71 = default;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector128.LoadUnsafe(ref b);
            var b1 = Vector128.LoadUnsafe(ref b, w);
            var x = Vector128.Create(a);
            c00 = Fma(x, b0, c00); c01 = Fma(x, b1, c01);
            x = Vector128.Create(Unsafe.Add(ref a, 1));
            c10 = Fma(x, b0, c10); c11 = Fma(x, b1, c11);
            x = Vector128.Create(Unsafe.Add(ref a, 2));
            c20 = Fma(x, b0, c20); c21 = Fma(x, b1, c21);
            x = Vector128.Create(Unsafe.Add(ref a, 3));
            c30 = Fma(x, b0, c30); c31 = Fma(x, b1, c31);
            x = Vector128.Create(Unsafe.Add(ref a, 4));
            c40 = Fma(x, b0, c40); c41 = Fma(x, b1, c41);
            x = Vector128.Create(Unsafe.Add(ref a, 5));
            c50 = Fma(x, b0, c50); c51 = Fma(x, b1, c51);
            x = Vector128.Create(Unsafe.Add(ref a, 6));
            c60 = Fma(x, b0, c60); c61 = Fma(x, b1, c61);
            x = Vector128.Create(Unsafe.Add(ref a, 7));
            c70 = Fma(x, b0, c70); c71 = Fma(x, b1, c71);
            a = ref Unsafe.Add(ref a, 8);
            b = ref Unsafe.Add(ref b, 2 * w);
        }
        StoreRow(ref c, c00, c01, add);
        StoreRow(ref Unsafe.Add(ref c, ldc), c10, c11, add);
        StoreRow(ref Unsafe.Add(ref c, 2 * ldc), c20, c21, add);
        StoreRow(ref Unsafe.Add(ref c, 3 * ldc), c30, c31, add);
        StoreRow(ref Unsafe.Add(ref c, 4 * ldc), c40, c41, add);
        StoreRow(ref Unsafe.Add(ref c, 5 * ldc), c50, c51, add);
        StoreRow(ref Unsafe.Add(ref c, 6 * ldc), c60, c61, add);
        StoreRow(ref Unsafe.Add(ref c, 7 * ldc), c70, c71, add);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreRow(ref T c, Vector128<T> v0, Vector128<T> v1, bool add)
    {
        nuint w = (nuint)W;
        if (add)
        {
            v0 = Vector128.LoadUnsafe(ref c) + v0;
            v1 = Vector128.LoadUnsafe(ref c, w) + v1;
        }
        v0.StoreUnsafe(ref c);
        v1.StoreUnsafe(ref c, w);
    }
}
