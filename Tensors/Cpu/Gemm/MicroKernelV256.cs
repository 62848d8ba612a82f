using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using static Sparkle.Tensors.Cpu.Gemm.VectorFma;

namespace Sparkle.Tensors.Cpu.Gemm;

/// <summary>
/// AVX2+FMA micro-kernel: a 6 x (2 vectors) tile (6x16 float, 6x8 double). 12 accumulators + 2 B vectors
/// + 1 broadcast = 15 of the 16 ymm registers. Per k: 2 B loads, 6 broadcast loads, 12 FMAs, which keeps
/// both FMA pipes busy while loads stay under 2 per cycle.
/// </summary>
internal readonly struct MicroKernelV256<T> : IMicroKernel<T> where T : unmanaged
{
    private static int W => Vector256<T>.Count;
    public static int MR => 6;
    public static int NR => 2 * Vector256<T>.Count;
    // With KC = 256: B micro-panel KC*NR*size = 16 KB, half the 32 KB L1d; A block MC*KC*size = 144 KB, under L2 (512 KB).
    public static int MC => typeof(T) == typeof(float) ? 144 : 72;
    public static int NC => 4080 / NR * NR;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run(int kc, ref T a, ref T b, ref T c, nint ldc, bool add)
    {
        nuint w = (nuint)W;
        CachePrefetch.Tile(ref c, ldc, MR, NR);
        Vector256<T> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector256<T> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector256.LoadUnsafe(ref b);
            var b1 = Vector256.LoadUnsafe(ref b, w);
            var x = Vector256.Create(a);
            c00 = Fma(x, b0, c00); c01 = Fma(x, b1, c01);
            x = Vector256.Create(Unsafe.Add(ref a, 1));
            c10 = Fma(x, b0, c10); c11 = Fma(x, b1, c11);
            x = Vector256.Create(Unsafe.Add(ref a, 2));
            c20 = Fma(x, b0, c20); c21 = Fma(x, b1, c21);
            x = Vector256.Create(Unsafe.Add(ref a, 3));
            c30 = Fma(x, b0, c30); c31 = Fma(x, b1, c31);
            x = Vector256.Create(Unsafe.Add(ref a, 4));
            c40 = Fma(x, b0, c40); c41 = Fma(x, b1, c41);
            x = Vector256.Create(Unsafe.Add(ref a, 5));
            c50 = Fma(x, b0, c50); c51 = Fma(x, b1, c51);
            a = ref Unsafe.Add(ref a, 6);
            b = ref Unsafe.Add(ref b, 2 * w);
        }
        StoreRow(ref c, c00, c01, add);
        StoreRow(ref Unsafe.Add(ref c, ldc), c10, c11, add);
        StoreRow(ref Unsafe.Add(ref c, 2 * ldc), c20, c21, add);
        StoreRow(ref Unsafe.Add(ref c, 3 * ldc), c30, c31, add);
        StoreRow(ref Unsafe.Add(ref c, 4 * ldc), c40, c41, add);
        StoreRow(ref Unsafe.Add(ref c, 5 * ldc), c50, c51, add);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreRow(ref T c, Vector256<T> v0, Vector256<T> v1, bool add)
    {
        nuint w = (nuint)W;
        if (add)
        {
            v0 = Vector256.LoadUnsafe(ref c) + v0;
            v1 = Vector256.LoadUnsafe(ref c, w) + v1;
        }
        v0.StoreUnsafe(ref c);
        v1.StoreUnsafe(ref c, w);
    }
}
