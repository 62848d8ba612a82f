using System.Runtime.CompilerServices;
using Sparkle.Tensors.Cpu.Elementwise;

namespace Sparkle.Tensors.Cpu.Conv;

/// <summary>
/// The direct weight-gradient micro-kernel (TS: Vector128, Vector256 or Vector512 operations): a tile of
/// <see cref="RowsKernel{T, TV, TS}.MR"/> im2col columns k = (kh, kw, c) x 2 vectors of output channels o,
/// summed over output pixels q: tile[r, j] = Σ_q xs[pix(q) + colOff[r]] · dys[q·ldy + j]. Neither operand is packed:
/// the x values are read in place from the zero-padded channels-last slab (column k of pixel q is at a fixed offset
/// from the pixel's slab position), the output-gradient vectors from a channels-last dy slab. Per pixel: 2 vector
/// loads, MR broadcasts, 2·MR FMAs — the forward's <see cref="RowsKernel{T, TV, TS}"/> loop with the roles of pixels
/// and reduction swapped. The packed GEMM it replaces copied each x value KH·KW times (the im2col panel) per call.
/// Each element's sum runs over the pixels in order from zero, whatever the width: every width gives the same bits.
/// </summary>
internal static class WeightGradKernel<T, TV, TS> where T : unmanaged where TV : struct where TS : ISimdOps<T, TV>
{
    private static int MR
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => RowsKernel<T, TV, TS>.MR;
    }

    /// <summary>Sums the tile over runs of pixels: run i has <paramref name="runLen"/>[i] pixels, the first at slab offset
    /// runX[i] and dy offset runDy[i]; along a run the slab offset advances by <paramref name="colStep"/> and the dy offset
    /// by <paramref name="ldy"/>. Then tile row r (r &lt; <paramref name="rows"/>) is stored to dst[r·ldd ..] (two vectors),
    /// or added to what is there when <paramref name="accumulate"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run(ref T slab, ReadOnlySpan<int> colOff, ref T dys, int ldy, int colStep,
        ReadOnlySpan<int> runX, ReadOnlySpan<int> runDy, ReadOnlySpan<int> runLen, ref T dst, int ldd, int rows, bool accumulate)
    {
        nuint vw = (nuint)TS.Count;
        bool tall = MR == 12;
        TV c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        TV c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        TV c60 = default, c61 = default, c70 = default, c71 = default, c80 = default, c81 = default;
        TV c90 = default, c91 = default, ca0 = default, ca1 = default, cb0 = default, cb1 = default;
        for (int run = 0; run < runLen.Length; run++)
        {
            ref T x = ref Unsafe.Add(ref slab, runX[run]);
            ref T a0 = ref Unsafe.Add(ref x, colOff[0]);
            ref T a1 = ref Unsafe.Add(ref x, colOff[1]);
            ref T a2 = ref Unsafe.Add(ref x, colOff[2]);
            ref T a3 = ref Unsafe.Add(ref x, colOff[3]);
            ref T a4 = ref Unsafe.Add(ref x, colOff[4]);
            ref T a5 = ref Unsafe.Add(ref x, colOff[5]);
            ref T d = ref Unsafe.Add(ref dys, runDy[run]);
            int n = runLen[run];
            nint step = colStep;
            if (!tall)
            {
                for (nint p = 0, px = 0; p < n; p++, px += step)
                {
                    var b0 = TS.Load(ref d);
                    var b1 = TS.Load(ref d, vw);
                    var v = TS.Splat(Unsafe.Add(ref a0, px));
                    c00 = TS.Fma(v, b0, c00); c01 = TS.Fma(v, b1, c01);
                    v = TS.Splat(Unsafe.Add(ref a1, px));
                    c10 = TS.Fma(v, b0, c10); c11 = TS.Fma(v, b1, c11);
                    v = TS.Splat(Unsafe.Add(ref a2, px));
                    c20 = TS.Fma(v, b0, c20); c21 = TS.Fma(v, b1, c21);
                    v = TS.Splat(Unsafe.Add(ref a3, px));
                    c30 = TS.Fma(v, b0, c30); c31 = TS.Fma(v, b1, c31);
                    v = TS.Splat(Unsafe.Add(ref a4, px));
                    c40 = TS.Fma(v, b0, c40); c41 = TS.Fma(v, b1, c41);
                    v = TS.Splat(Unsafe.Add(ref a5, px));
                    c50 = TS.Fma(v, b0, c50); c51 = TS.Fma(v, b1, c51);
                    d = ref Unsafe.Add(ref d, ldy);
                }
                continue;
            }
            ref T a6 = ref Unsafe.Add(ref x, colOff[6]);
            ref T a7 = ref Unsafe.Add(ref x, colOff[7]);
            ref T a8 = ref Unsafe.Add(ref x, colOff[8]);
            ref T a9 = ref Unsafe.Add(ref x, colOff[9]);
            ref T aa = ref Unsafe.Add(ref x, colOff[10]);
            ref T ab = ref Unsafe.Add(ref x, colOff[11]);
            for (nint p = 0, px = 0; p < n; p++, px += step)
            {
                var b0 = TS.Load(ref d);
                var b1 = TS.Load(ref d, vw);
                var v = TS.Splat(Unsafe.Add(ref a0, px));
                c00 = TS.Fma(v, b0, c00); c01 = TS.Fma(v, b1, c01);
                v = TS.Splat(Unsafe.Add(ref a1, px));
                c10 = TS.Fma(v, b0, c10); c11 = TS.Fma(v, b1, c11);
                v = TS.Splat(Unsafe.Add(ref a2, px));
                c20 = TS.Fma(v, b0, c20); c21 = TS.Fma(v, b1, c21);
                v = TS.Splat(Unsafe.Add(ref a3, px));
                c30 = TS.Fma(v, b0, c30); c31 = TS.Fma(v, b1, c31);
                v = TS.Splat(Unsafe.Add(ref a4, px));
                c40 = TS.Fma(v, b0, c40); c41 = TS.Fma(v, b1, c41);
                v = TS.Splat(Unsafe.Add(ref a5, px));
                c50 = TS.Fma(v, b0, c50); c51 = TS.Fma(v, b1, c51);
                v = TS.Splat(Unsafe.Add(ref a6, px));
                c60 = TS.Fma(v, b0, c60); c61 = TS.Fma(v, b1, c61);
                v = TS.Splat(Unsafe.Add(ref a7, px));
                c70 = TS.Fma(v, b0, c70); c71 = TS.Fma(v, b1, c71);
                v = TS.Splat(Unsafe.Add(ref a8, px));
                c80 = TS.Fma(v, b0, c80); c81 = TS.Fma(v, b1, c81);
                v = TS.Splat(Unsafe.Add(ref a9, px));
                c90 = TS.Fma(v, b0, c90); c91 = TS.Fma(v, b1, c91);
                v = TS.Splat(Unsafe.Add(ref aa, px));
                ca0 = TS.Fma(v, b0, ca0); ca1 = TS.Fma(v, b1, ca1);
                v = TS.Splat(Unsafe.Add(ref ab, px));
                cb0 = TS.Fma(v, b0, cb0); cb1 = TS.Fma(v, b1, cb1);
                d = ref Unsafe.Add(ref d, ldy);
            }
        }
        Finish(ref dst, 0, ldd, rows, c00, c01, accumulate);
        Finish(ref dst, 1, ldd, rows, c10, c11, accumulate);
        Finish(ref dst, 2, ldd, rows, c20, c21, accumulate);
        Finish(ref dst, 3, ldd, rows, c30, c31, accumulate);
        Finish(ref dst, 4, ldd, rows, c40, c41, accumulate);
        Finish(ref dst, 5, ldd, rows, c50, c51, accumulate);
        if (!tall) return;
        Finish(ref dst, 6, ldd, rows, c60, c61, accumulate);
        Finish(ref dst, 7, ldd, rows, c70, c71, accumulate);
        Finish(ref dst, 8, ldd, rows, c80, c81, accumulate);
        Finish(ref dst, 9, ldd, rows, c90, c91, accumulate);
        Finish(ref dst, 10, ldd, rows, ca0, ca1, accumulate);
        Finish(ref dst, 11, ldd, rows, cb0, cb1, accumulate);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Finish(ref T dst, int r, int ldd, int rows, TV v0, TV v1, bool accumulate)
    {
        if (r >= rows) return;
        ref T d = ref Unsafe.Add(ref dst, (nint)r * ldd);
        nuint vw = (nuint)TS.Count;
        if (accumulate) { v0 = TS.Add(v0, TS.Load(ref d)); v1 = TS.Add(v1, TS.Load(ref d, vw)); }
        TS.Store(v0, ref d);
        TS.Store(v1, ref d, vw);
    }
}
