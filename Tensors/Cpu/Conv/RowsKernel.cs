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
        => Run(ref slab, pix, segOff, segLen, ref w, ref tile, [0, 2, 4, 6, 8, 10], Vector256<T>.Count, ref tile, addBias: false, accumulate: false);

    /// <summary>As <see cref="Run(ref T, ReadOnlySpan{int}, ReadOnlySpan{int}, ReadOnlySpan{int}, ref T, ref T)"/>, but row r of
    /// the tile goes to dst[rowOff[r]·unit ..] (two vectors): added to what is there when <paramref name="accumulate"/>
    /// (a later k block), else stored plus the two bias vectors when <paramref name="addBias"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run(ref T slab, ReadOnlySpan<int> pix, ReadOnlySpan<int> segOff, ReadOnlySpan<int> segLen, ref T w,
        ref T dst, ReadOnlySpan<int> rowOff, int unit, ref T bias, bool addBias, bool accumulate)
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
        ref T d0 = ref Unsafe.Add(ref dst, (nint)rowOff[0] * unit);
        ref T d1 = ref Unsafe.Add(ref dst, (nint)rowOff[1] * unit);
        ref T d2 = ref Unsafe.Add(ref dst, (nint)rowOff[2] * unit);
        ref T d3 = ref Unsafe.Add(ref dst, (nint)rowOff[3] * unit);
        ref T d4 = ref Unsafe.Add(ref dst, (nint)rowOff[4] * unit);
        ref T d5 = ref Unsafe.Add(ref dst, (nint)rowOff[5] * unit);
        if (accumulate)
        {
            c00 += Vector256.LoadUnsafe(ref d0); c01 += Vector256.LoadUnsafe(ref d0, vw);
            c10 += Vector256.LoadUnsafe(ref d1); c11 += Vector256.LoadUnsafe(ref d1, vw);
            c20 += Vector256.LoadUnsafe(ref d2); c21 += Vector256.LoadUnsafe(ref d2, vw);
            c30 += Vector256.LoadUnsafe(ref d3); c31 += Vector256.LoadUnsafe(ref d3, vw);
            c40 += Vector256.LoadUnsafe(ref d4); c41 += Vector256.LoadUnsafe(ref d4, vw);
            c50 += Vector256.LoadUnsafe(ref d5); c51 += Vector256.LoadUnsafe(ref d5, vw);
        }
        else if (addBias)
        {
            var b0 = Vector256.LoadUnsafe(ref bias);
            var b1 = Vector256.LoadUnsafe(ref bias, vw);
            c00 += b0; c01 += b1; c10 += b0; c11 += b1; c20 += b0; c21 += b1;
            c30 += b0; c31 += b1; c40 += b0; c41 += b1; c50 += b0; c51 += b1;
        }
        c00.StoreUnsafe(ref d0); c01.StoreUnsafe(ref d0, vw);
        c10.StoreUnsafe(ref d1); c11.StoreUnsafe(ref d1, vw);
        c20.StoreUnsafe(ref d2); c21.StoreUnsafe(ref d2, vw);
        c30.StoreUnsafe(ref d3); c31.StoreUnsafe(ref d3, vw);
        c40.StoreUnsafe(ref d4); c41.StoreUnsafe(ref d4, vw);
        c50.StoreUnsafe(ref d5); c51.StoreUnsafe(ref d5, vw);
    }
}
