using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.Arm;
using Sparkle.Tensors.Cpu.Elementwise;

namespace Sparkle.Tensors.Cpu.Conv;

/// <summary>
/// The direct micro-kernel of the slab convolution, one implementation for every vector width (TS: Vector128,
/// Vector256 or Vector512 operations): a tile of <see cref="MR"/> output pixels x 2 vectors of output channels. The
/// left operand is never packed: each pixel's inputs are read in place from a zero-padded channels-last slab, as
/// contiguous runs ("segments": for one kernel row, KW taps x C channels are adjacent in memory). Per k step: 2 weight
/// loads, MR broadcasts, 2·MR FMAs — the GEMM micro-kernel's inner loop, without its A packing.
/// <list type="bullet">
/// <item>Vector256 (AVX2: 16 ymm): 6 pixels x 16 float = 12 accumulators + 2 weights + 1 broadcast = 15 registers.</item>
/// <item>Vector512 (AVX-512: 32 zmm): 12 pixels x 32 float = 24 + 2 + 1 = 27, as the Vector512 GEMM micro-kernel
/// (12x32); the weights' micro-panel of a k block (256 steps x 128 B = 32 KB) as its KC panel.</item>
/// <item>Vector128: 6 pixels x 8 float on x64 (16 xmm, as AVX2), 12 pixels on ARM64 (32 NEON registers).</item>
/// </list>
/// The tile height is a JIT-time constant: the second half of the accumulators exists only in the 12-row
/// instantiations. Each output element's sum runs over the k steps in order whatever the width or tile, so every
/// width gives the same bits (with fused multiply-adds).
/// </summary>
internal static class RowsKernel<T, TV, TS> where T : unmanaged where TV : struct where TS : ISimdOps<T, TV>
{
    /// <summary>Pixels per tile: 12 where the register file holds 24 accumulators (32 registers), else 6.</summary>
    public static int MR
    {
        // A JIT-time constant only if inlined (the 6-row instantiations must not keep the 12-row loop).
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => TS.Count * Unsafe.SizeOf<T>() == 64 || (TS.Count * Unsafe.SizeOf<T>() == 16 && AdvSimd.Arm64.IsSupported) ? 12 : 6;
    }

    /// <summary>Output channels per tile: two vectors.</summary>
    public static int NR
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => 2 * TS.Count;
    }

    private static bool Tall
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => MR == 12;
    }

    /// <summary>tile[r·NR + j] = Σ over segments s, steps p of slab[pix[r] + segOff[s] + p] · w[(k + p)·NR + j], where k
    /// counts the steps of the segments before s. <paramref name="pix"/> holds MR slab offsets.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run(ref T slab, ReadOnlySpan<int> pix, ReadOnlySpan<int> segOff, ReadOnlySpan<int> segLen, ref T w, ref T tile)
        => Run(ref slab, pix, segOff, segLen, ref w, ref tile, TileRows, NR, ref tile, addBias: false, accumulate: false);

    private static ReadOnlySpan<int> TileRows => [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];

    /// <summary>As <see cref="Run(ref T, ReadOnlySpan{int}, ReadOnlySpan{int}, ReadOnlySpan{int}, ref T, ref T)"/>, but row r of
    /// the tile goes to dst[rowOff[r]·unit ..] (two vectors): added to what is there when <paramref name="accumulate"/>
    /// (a later k block), else stored plus the two bias vectors when <paramref name="addBias"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run(ref T slab, ReadOnlySpan<int> pix, ReadOnlySpan<int> segOff, ReadOnlySpan<int> segLen, ref T w,
        ref T dst, ReadOnlySpan<int> rowOff, int unit, ref T bias, bool addBias, bool accumulate)
    {
        nuint vw = (nuint)TS.Count;
        TV c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        TV c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        TV c60 = default, c61 = default, c70 = default, c71 = default, c80 = default, c81 = default;
        TV c90 = default, c91 = default, ca0 = default, ca1 = default, cb0 = default, cb1 = default;
        int p0 = pix[0], p1 = pix[1], p2 = pix[2], p3 = pix[3], p4 = pix[4], p5 = pix[5];
        int p6 = 0, p7 = 0, p8 = 0, p9 = 0, pa = 0, pb = 0;
        if (Tall) { p6 = pix[6]; p7 = pix[7]; p8 = pix[8]; p9 = pix[9]; pa = pix[10]; pb = pix[11]; }
        for (int s = 0; s < segOff.Length; s++)
        {
            int off = segOff[s], len = segLen[s];
            ref T a0 = ref Unsafe.Add(ref slab, p0 + off);
            ref T a1 = ref Unsafe.Add(ref slab, p1 + off);
            ref T a2 = ref Unsafe.Add(ref slab, p2 + off);
            ref T a3 = ref Unsafe.Add(ref slab, p3 + off);
            ref T a4 = ref Unsafe.Add(ref slab, p4 + off);
            ref T a5 = ref Unsafe.Add(ref slab, p5 + off);
            if (!Tall)
            {
                for (nint p = 0; p < len; p++)
                {
                    var b0 = TS.Load(ref w);
                    var b1 = TS.Load(ref w, vw);
                    var x = TS.Splat(Unsafe.Add(ref a0, p));
                    c00 = TS.Fma(x, b0, c00); c01 = TS.Fma(x, b1, c01);
                    x = TS.Splat(Unsafe.Add(ref a1, p));
                    c10 = TS.Fma(x, b0, c10); c11 = TS.Fma(x, b1, c11);
                    x = TS.Splat(Unsafe.Add(ref a2, p));
                    c20 = TS.Fma(x, b0, c20); c21 = TS.Fma(x, b1, c21);
                    x = TS.Splat(Unsafe.Add(ref a3, p));
                    c30 = TS.Fma(x, b0, c30); c31 = TS.Fma(x, b1, c31);
                    x = TS.Splat(Unsafe.Add(ref a4, p));
                    c40 = TS.Fma(x, b0, c40); c41 = TS.Fma(x, b1, c41);
                    x = TS.Splat(Unsafe.Add(ref a5, p));
                    c50 = TS.Fma(x, b0, c50); c51 = TS.Fma(x, b1, c51);
                    w = ref Unsafe.Add(ref w, 2 * vw);
                }
                continue;
            }
            ref T a6 = ref Unsafe.Add(ref slab, p6 + off);
            ref T a7 = ref Unsafe.Add(ref slab, p7 + off);
            ref T a8 = ref Unsafe.Add(ref slab, p8 + off);
            ref T a9 = ref Unsafe.Add(ref slab, p9 + off);
            ref T aa = ref Unsafe.Add(ref slab, pa + off);
            ref T ab = ref Unsafe.Add(ref slab, pb + off);
            for (nint p = 0; p < len; p++)
            {
                var b0 = TS.Load(ref w);
                var b1 = TS.Load(ref w, vw);
                var x = TS.Splat(Unsafe.Add(ref a0, p));
                c00 = TS.Fma(x, b0, c00); c01 = TS.Fma(x, b1, c01);
                x = TS.Splat(Unsafe.Add(ref a1, p));
                c10 = TS.Fma(x, b0, c10); c11 = TS.Fma(x, b1, c11);
                x = TS.Splat(Unsafe.Add(ref a2, p));
                c20 = TS.Fma(x, b0, c20); c21 = TS.Fma(x, b1, c21);
                x = TS.Splat(Unsafe.Add(ref a3, p));
                c30 = TS.Fma(x, b0, c30); c31 = TS.Fma(x, b1, c31);
                x = TS.Splat(Unsafe.Add(ref a4, p));
                c40 = TS.Fma(x, b0, c40); c41 = TS.Fma(x, b1, c41);
                x = TS.Splat(Unsafe.Add(ref a5, p));
                c50 = TS.Fma(x, b0, c50); c51 = TS.Fma(x, b1, c51);
                x = TS.Splat(Unsafe.Add(ref a6, p));
                c60 = TS.Fma(x, b0, c60); c61 = TS.Fma(x, b1, c61);
                x = TS.Splat(Unsafe.Add(ref a7, p));
                c70 = TS.Fma(x, b0, c70); c71 = TS.Fma(x, b1, c71);
                x = TS.Splat(Unsafe.Add(ref a8, p));
                c80 = TS.Fma(x, b0, c80); c81 = TS.Fma(x, b1, c81);
                x = TS.Splat(Unsafe.Add(ref a9, p));
                c90 = TS.Fma(x, b0, c90); c91 = TS.Fma(x, b1, c91);
                x = TS.Splat(Unsafe.Add(ref aa, p));
                ca0 = TS.Fma(x, b0, ca0); ca1 = TS.Fma(x, b1, ca1);
                x = TS.Splat(Unsafe.Add(ref ab, p));
                cb0 = TS.Fma(x, b0, cb0); cb1 = TS.Fma(x, b1, cb1);
                w = ref Unsafe.Add(ref w, 2 * vw);
            }
        }
        TV bias0 = default, bias1 = default;
        if (!accumulate && addBias) { bias0 = TS.Load(ref bias); bias1 = TS.Load(ref bias, vw); }
        Finish(ref dst, (nint)rowOff[0] * unit, c00, c01, bias0, bias1, addBias, accumulate);
        Finish(ref dst, (nint)rowOff[1] * unit, c10, c11, bias0, bias1, addBias, accumulate);
        Finish(ref dst, (nint)rowOff[2] * unit, c20, c21, bias0, bias1, addBias, accumulate);
        Finish(ref dst, (nint)rowOff[3] * unit, c30, c31, bias0, bias1, addBias, accumulate);
        Finish(ref dst, (nint)rowOff[4] * unit, c40, c41, bias0, bias1, addBias, accumulate);
        Finish(ref dst, (nint)rowOff[5] * unit, c50, c51, bias0, bias1, addBias, accumulate);
        if (!Tall) return;
        Finish(ref dst, (nint)rowOff[6] * unit, c60, c61, bias0, bias1, addBias, accumulate);
        Finish(ref dst, (nint)rowOff[7] * unit, c70, c71, bias0, bias1, addBias, accumulate);
        Finish(ref dst, (nint)rowOff[8] * unit, c80, c81, bias0, bias1, addBias, accumulate);
        Finish(ref dst, (nint)rowOff[9] * unit, c90, c91, bias0, bias1, addBias, accumulate);
        Finish(ref dst, (nint)rowOff[10] * unit, ca0, ca1, bias0, bias1, addBias, accumulate);
        Finish(ref dst, (nint)rowOff[11] * unit, cb0, cb1, bias0, bias1, addBias, accumulate);
    }

    /// <summary>One tile row's two vectors into dst[at ..]: added to what is there (a later k block), or stored plus the
    /// bias (the first block), or stored.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Finish(ref T dst, nint at, TV v0, TV v1, TV bias0, TV bias1, bool addBias, bool accumulate)
    {
        ref T d = ref Unsafe.Add(ref dst, at);
        nuint vw = (nuint)TS.Count;
        if (accumulate) { v0 = TS.Add(v0, TS.Load(ref d)); v1 = TS.Add(v1, TS.Load(ref d, vw)); }
        else if (addBias) { v0 = TS.Add(v0, bias0); v1 = TS.Add(v1, bias1); }
        TS.Store(v0, ref d);
        TS.Store(v1, ref d, vw);
    }
}
