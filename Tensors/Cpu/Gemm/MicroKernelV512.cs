using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using static Sparkle.Tensors.Cpu.Gemm.VectorFma;

namespace Sparkle.Tensors.Cpu.Gemm;

/// <summary>
/// AVX-512 micro-kernel: a 12 x (2 vectors) tile (12x32 float, 12x16 double). 24 accumulators + 2 B
/// vectors + 1 broadcast = 27 of the 32 zmm registers, leaving slack so the JIT does not spill. Per k:
/// 2 B loads, 12 broadcast loads (foldable into the FMA as embedded broadcasts), 24 FMAs = 12 cycles
/// on two 512-bit FMA pipes (Zen 5), with the loads well under 2 per cycle.
/// On hardware without AVX-512 this runs in software emulation: correct, slow; tests force it on small sizes.
/// </summary>
internal readonly struct MicroKernelV512<T> : IMicroKernel<T> where T : unmanaged
{
    private static int W => Vector512<T>.Count;
    public static int MR => 12;
    public static int NR => 2 * Vector512<T>.Count;
    // Zen 5: 48 KB L1d, 1 MB L2. With KC = 256: B micro-panel KC*NR*size = 32 KB (+ 12 KB A micro-panel
    // streamed past it); A block MC*KC*size = 288 KB, well inside L2.
    public static int MC => typeof(T) == typeof(float) ? 288 : 144;
    public static int NC => 4096 / NR * NR;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run(int kc, ref T a, ref T b, ref T c, nint ldc, bool add)
    {
        nuint w = (nuint)W;
        CachePrefetch.Tile(ref c, ldc, MR, NR);
        Vector512<T> c000 = default, c001 = default, c010 = default, c011 = default, c020 = default, c021 = default, c030 = default, c031 = default;
        Vector512<T> c040 = default, c041 = default, c050 = default, c051 = default, c060 = default, c061 = default, c070 = default, c071 = default;
        Vector512<T> c080 = default, c081 = default, c090 = default, c091 = default, c100 = default, c101 = default, c110 = default, c111 = default;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector512.LoadUnsafe(ref b);
            var b1 = Vector512.LoadUnsafe(ref b, w);
            Vector512<T> x;
            x = Vector512.Create(a);
            c000 = Fma(x, b0, c000); c001 = Fma(x, b1, c001);
            x = Vector512.Create(Unsafe.Add(ref a, 1));
            c010 = Fma(x, b0, c010); c011 = Fma(x, b1, c011);
            x = Vector512.Create(Unsafe.Add(ref a, 2));
            c020 = Fma(x, b0, c020); c021 = Fma(x, b1, c021);
            x = Vector512.Create(Unsafe.Add(ref a, 3));
            c030 = Fma(x, b0, c030); c031 = Fma(x, b1, c031);
            x = Vector512.Create(Unsafe.Add(ref a, 4));
            c040 = Fma(x, b0, c040); c041 = Fma(x, b1, c041);
            x = Vector512.Create(Unsafe.Add(ref a, 5));
            c050 = Fma(x, b0, c050); c051 = Fma(x, b1, c051);
            x = Vector512.Create(Unsafe.Add(ref a, 6));
            c060 = Fma(x, b0, c060); c061 = Fma(x, b1, c061);
            x = Vector512.Create(Unsafe.Add(ref a, 7));
            c070 = Fma(x, b0, c070); c071 = Fma(x, b1, c071);
            x = Vector512.Create(Unsafe.Add(ref a, 8));
            c080 = Fma(x, b0, c080); c081 = Fma(x, b1, c081);
            x = Vector512.Create(Unsafe.Add(ref a, 9));
            c090 = Fma(x, b0, c090); c091 = Fma(x, b1, c091);
            x = Vector512.Create(Unsafe.Add(ref a, 10));
            c100 = Fma(x, b0, c100); c101 = Fma(x, b1, c101);
            x = Vector512.Create(Unsafe.Add(ref a, 11));
            c110 = Fma(x, b0, c110); c111 = Fma(x, b1, c111);
            a = ref Unsafe.Add(ref a, 12);
            b = ref Unsafe.Add(ref b, 2 * w);
        }
        StoreRow(ref c, c000, c001, add);
        StoreRow(ref Unsafe.Add(ref c, ldc), c010, c011, add);
        StoreRow(ref Unsafe.Add(ref c, 2 * ldc), c020, c021, add);
        StoreRow(ref Unsafe.Add(ref c, 3 * ldc), c030, c031, add);
        StoreRow(ref Unsafe.Add(ref c, 4 * ldc), c040, c041, add);
        StoreRow(ref Unsafe.Add(ref c, 5 * ldc), c050, c051, add);
        StoreRow(ref Unsafe.Add(ref c, 6 * ldc), c060, c061, add);
        StoreRow(ref Unsafe.Add(ref c, 7 * ldc), c070, c071, add);
        StoreRow(ref Unsafe.Add(ref c, 8 * ldc), c080, c081, add);
        StoreRow(ref Unsafe.Add(ref c, 9 * ldc), c090, c091, add);
        StoreRow(ref Unsafe.Add(ref c, 10 * ldc), c100, c101, add);
        StoreRow(ref Unsafe.Add(ref c, 11 * ldc), c110, c111, add);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreRow(ref T c, Vector512<T> v0, Vector512<T> v1, bool add)
    {
        nuint w = (nuint)W;
        if (add)
        {
            v0 = Vector512.LoadUnsafe(ref c) + v0;
            v1 = Vector512.LoadUnsafe(ref c, w) + v1;
        }
        v0.StoreUnsafe(ref c);
        v1.StoreUnsafe(ref c, w);
    }
}
