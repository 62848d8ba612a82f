using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using static Sparkle.Tensors.Cpu.Gemm.VectorFma;

namespace Sparkle.Tensors.Cpu.Conv;

/// <summary>
/// The direct micro-kernel of the slab convolution (AVX2+FMA): a tile of 6 output pixels x 2 vectors of output
/// channels (6x16 float, 6x8 double), 12 accumulators + 2 weight vectors + 1 broadcast = 15 of 16 ymm. The left
/// operand is never packed: each pixel's inputs are read in place from a zero-padded channels-last slab, as
/// contiguous runs ("segments": for one kernel row, KW taps x C channels are adjacent in memory). Per k step:
/// 2 weight loads, 6 broadcasts, 12 FMAs — the GEMM micro-kernel's inner loop, without its A packing.
/// </summary>
internal static class RowsKernelV256<T> where T : unmanaged
{
    public const int MR = 6;
    public static int NR => 2 * Vector256<T>.Count;

    /// <summary>tile[r·NR + j] = Σ over segments s, steps p of slab[pix[r] + segOff[s] + p] · w[(k + p)·NR + j], where k
    /// counts the steps of the segments before s. <paramref name="pix"/> holds 6 slab offsets.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run(ref T slab, ReadOnlySpan<int> pix, ReadOnlySpan<int> segOff, ReadOnlySpan<int> segLen, ref T w, ref T tile)
    {
        nuint vw = (nuint)Vector256<T>.Count;
        Vector256<T> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector256<T> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        int p0 = pix[0], p1 = pix[1], p2 = pix[2], p3 = pix[3], p4 = pix[4], p5 = pix[5];
        for (int s = 0; s < segOff.Length; s++)
        {
            int off = segOff[s], len = segLen[s];
            ref T a0 = ref Unsafe.Add(ref slab, p0 + off);
            ref T a1 = ref Unsafe.Add(ref slab, p1 + off);
            ref T a2 = ref Unsafe.Add(ref slab, p2 + off);
            ref T a3 = ref Unsafe.Add(ref slab, p3 + off);
            ref T a4 = ref Unsafe.Add(ref slab, p4 + off);
            ref T a5 = ref Unsafe.Add(ref slab, p5 + off);
            for (nint p = 0; p < len; p++)
            {
                var b0 = Vector256.LoadUnsafe(ref w);
                var b1 = Vector256.LoadUnsafe(ref w, vw);
                var x = Vector256.Create(Unsafe.Add(ref a0, p));
                c00 = Fma(x, b0, c00); c01 = Fma(x, b1, c01);
                x = Vector256.Create(Unsafe.Add(ref a1, p));
                c10 = Fma(x, b0, c10); c11 = Fma(x, b1, c11);
                x = Vector256.Create(Unsafe.Add(ref a2, p));
                c20 = Fma(x, b0, c20); c21 = Fma(x, b1, c21);
                x = Vector256.Create(Unsafe.Add(ref a3, p));
                c30 = Fma(x, b0, c30); c31 = Fma(x, b1, c31);
                x = Vector256.Create(Unsafe.Add(ref a4, p));
                c40 = Fma(x, b0, c40); c41 = Fma(x, b1, c41);
                x = Vector256.Create(Unsafe.Add(ref a5, p));
                c50 = Fma(x, b0, c50); c51 = Fma(x, b1, c51);
                w = ref Unsafe.Add(ref w, 2 * vw);
            }
        }
        c00.StoreUnsafe(ref tile); c01.StoreUnsafe(ref tile, vw);
        c10.StoreUnsafe(ref tile, 2 * vw); c11.StoreUnsafe(ref tile, 3 * vw);
        c20.StoreUnsafe(ref tile, 4 * vw); c21.StoreUnsafe(ref tile, 5 * vw);
        c30.StoreUnsafe(ref tile, 6 * vw); c31.StoreUnsafe(ref tile, 7 * vw);
        c40.StoreUnsafe(ref tile, 8 * vw); c41.StoreUnsafe(ref tile, 9 * vw);
        c50.StoreUnsafe(ref tile, 10 * vw); c51.StoreUnsafe(ref tile, 11 * vw);
    }
}
