using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Sparkle.Tensors.Cpu;
using Sparkle.Tensors.Cpu.Gemm;

namespace Sparkle.Tensors.Cpu.Sparse;

/// <summary>
/// Submanifold convolution on channels-last row matrices. A convolution is a gather of taps through a neighbour map
/// into an (rows, taps·C) matrix (grouped: [g][tap][c/g] columns) followed by one GEMM per group with the weight packed
/// as (taps·C/g, O/g). The input gradient is the same gather-GEMM through the inverse map with the transposed packing,
/// the weight gradient is gathered-rowsᵀ · dY. Rows are processed in fixed-size chunks (so the gathered block stays in
/// cache and results do not depend on the thread count).
/// </summary>
internal static class SparseConvKernels
{
    /// <summary>Target size of one gathered chunk, in elements (about 1 MB of float32).</summary>
    private const int ChunkElements = 1 << 18;

    internal static int ChunkRows(int ld) => Math.Max(64, ChunkElements / Math.Max(ld, 1)) / 16 * 16;

    /// <summary>col[(r - r0) * taps·C + g·taps·cg + t·cg + c'] = src[map[r·taps + t]·C + g·cg + c'] (0 for −1), rows r0..r1.</summary>
    public static void Im2Col<T>(T[] src, int srcC, int[] map, int taps, int groups, int r0, int r1, T[] col) where T : unmanaged
    {
        int cg = srcC / groups, ld = taps * srcC;
        IntraOpPool.ForRange(r1 - r0, 32, (a, b) =>
        {
            for (int r = r0 + a; r < r0 + b; r++)
            {
                int rowBase = (r - r0) * ld;
                for (int t = 0; t < taps; t++)
                {
                    int m = map[r * taps + t];
                    if (groups == 1)
                    {
                        var dst = col.AsSpan(rowBase + t * srcC, srcC);
                        if (m < 0) dst.Clear(); else src.AsSpan(m * srcC, srcC).CopyTo(dst);
                    }
                    else
                    {
                        for (int g = 0; g < groups; g++)
                        {
                            var dst = col.AsSpan(rowBase + g * taps * cg + t * cg, cg);
                            if (m < 0) dst.Clear(); else src.AsSpan(m * srcC + g * cg, cg).CopyTo(dst);
                        }
                    }
                }
            }
        });
    }

    /// <summary>OIHW weight (O, C/g, taps) -> per group (taps·cg, og): wp[(g·taps·cg + t·cg + c')·og + o'], in a
    /// rented array the caller returns.</summary>
    public static T[] PackForward<T>(ReadOnlySpan<T> w, int o, int cg, int taps, int groups) where T : unmanaged
    {
        int og = o / groups;
        var wp = Scratch.Rent<T>(o * cg * taps);
        for (int g = 0; g < groups; g++)
            for (int oo = 0; oo < og; oo++)
                for (int c = 0; c < cg; c++)
                    for (int t = 0; t < taps; t++)
                        wp[(g * taps * cg + t * cg + c) * og + oo] = w[((g * og + oo) * cg + c) * taps + t];
        return wp;
    }

    /// <summary>OIHW weight -> per group (taps·og, cg) for the input gradient: wb[(g·taps·og + t·og + o')·cg + c'], in
    /// a rented array the caller returns.</summary>
    public static T[] PackBackward<T>(ReadOnlySpan<T> w, int o, int cg, int taps, int groups) where T : unmanaged
    {
        int og = o / groups;
        var wb = Scratch.Rent<T>(o * cg * taps);
        for (int g = 0; g < groups; g++)
            for (int oo = 0; oo < og; oo++)
                for (int c = 0; c < cg; c++)
                    for (int t = 0; t < taps; t++)
                        wb[(g * taps * og + t * og + oo) * cg + c] = w[((g * og + oo) * cg + c) * taps + t];
        return wb;
    }

    /// <summary>The inverse of <see cref="PackForward{T}"/> (weight gradient back to OIHW).</summary>
    public static void UnpackForward<T>(ReadOnlySpan<T> wp, int o, int cg, int taps, int groups, Span<T> w) where T : unmanaged
    {
        int og = o / groups;
        for (int g = 0; g < groups; g++)
            for (int oo = 0; oo < og; oo++)
                for (int c = 0; c < cg; c++)
                    for (int t = 0; t < taps; t++)
                        w[((g * og + oo) * cg + c) * taps + t] = wp[(g * taps * cg + t * cg + c) * og + oo];
    }

    /// <summary>
    /// dst (nDst, dstC) = gather(src through map) · packed weight, per group; map null means identity (taps = 1).
    /// </summary>
    public static void GatherGemm<T>(T[] src, int srcC, int[]? map, int taps, int groups, int nDst, T[] packed, int dstC, T[] dst)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int cg = srcC / groups, og = dstC / groups, ld = taps * srcC;
        if (map is null)
        {
            for (int g = 0; g < groups; g++)
                Blas.Gemm(nDst, og, cg, new StridedMatrix<T>(src, g * cg, srcC, 1), new StridedMatrix<T>(packed, g * cg * og, og, 1),
                    dst, g * og, dstC, accumulate: false);
            return;
        }
        int chunk = ChunkRows(ld);
        var col = Scratch.Rent<T>(Math.Min(chunk, nDst) * ld);
        try
        {
            for (int r0 = 0; r0 < nDst; r0 += chunk)
            {
                int r1 = Math.Min(nDst, r0 + chunk);
                Im2Col(src, srcC, map, taps, groups, r0, r1, col);
                for (int g = 0; g < groups; g++)
                    Blas.Gemm(r1 - r0, og, taps * cg, new StridedMatrix<T>(col, g * taps * cg, ld, 1),
                        new StridedMatrix<T>(packed, g * taps * cg * og, og, 1), dst, r0 * dstC + g * og, dstC, accumulate: false);
            }
        }
        finally { Scratch.Return(col); }
    }

    /// <summary>Weight gradient in packed-forward layout: dwp[g] (taps·cg, og) = gather(x)ᵀ · dY over all output rows,
    /// in a rented array the caller returns.</summary>
    public static T[] WeightGrad<T>(T[] x, int cin, int[]? map, int taps, int groups, int nOut, T[] dy, int cout)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int cg = cin / groups, og = cout / groups, ld = taps * cin;
        // Zeroed only when no chunk runs (no active output rows); otherwise the first chunk's GEMM overwrites it.
        var dwp = nOut == 0 ? Scratch.RentZeroed<T>(cout * cg * taps) : Scratch.Rent<T>(cout * cg * taps);
        if (map is null)
        {
            for (int g = 0; g < groups; g++)
                Blas.Gemm(cg, og, nOut, new StridedMatrix<T>(x, g * cg, 1, cin), new StridedMatrix<T>(dy, g * og, cout, 1),
                    dwp, g * cg * og, og, accumulate: false);
            return dwp;
        }
        int chunk = ChunkRows(ld);
        var col = Scratch.Rent<T>(Math.Min(chunk, Math.Max(nOut, 1)) * ld);
        try
        {
            for (int r0 = 0; r0 < nOut; r0 += chunk)
            {
                int r1 = Math.Min(nOut, r0 + chunk);
                Im2Col(x, cin, map, taps, groups, r0, r1, col);
                for (int g = 0; g < groups; g++)
                    Blas.Gemm(taps * cg, og, r1 - r0, new StridedMatrix<T>(col, g * taps * cg, 1, ld),
                        new StridedMatrix<T>(dy, r0 * cout + g * og, cout, 1), dwp, g * taps * cg * og, og, accumulate: r0 > 0);
            }
        }
        finally { Scratch.Return(col); }
        return dwp;
    }

    /// <summary>Column sums of an (n, c) row matrix (bias gradient), rows in order.</summary>
    public static T[] ColumnSums<T>(T[] rows, int n, int c) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var s = new T[c];
        for (int r = 0; r < n; r++) System.Numerics.Tensors.TensorPrimitives.Add(s, rows.AsSpan(r * c, c), s);
        return s;
    }

    // ---- depthwise (groups = C = O): vectorised over channels, taps in registers ----

    /// <summary>dst[r·C + c] = bias[c] + Σ_t src[map[r·taps + t]·C + c] · wT[t·C + c].</summary>
    public static void Depthwise<T>(T[] src, int[] map, int taps, int n, int c, T[] wT, T[]? bias, T[] dst) where T : unmanaged, IFloatingPointIeee754<T>
    {
        IntraOpPool.ForRange(n, 16, (r0, r1) =>
        {
            for (int r = r0; r < r1; r++) DepthwiseRow(src, map, taps, r, c, wT, bias, dst);
        });
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void DepthwiseRow<T>(T[] src, int[] map, int taps, int r, int c, T[] wT, T[]? bias, T[] dst) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ref T s = ref MemoryMarshal.GetArrayDataReference(src);
        ref T w = ref MemoryMarshal.GetArrayDataReference(wT);
        ref T d = ref MemoryMarshal.GetArrayDataReference(dst);
        int mb = r * taps, v = Vector256<T>.Count, k = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; k + 4 * v <= c; k += 4 * v)
            {
                Vector256<T> a0, a1, a2, a3;
                if (bias is null) a0 = a1 = a2 = a3 = Vector256<T>.Zero;
                else
                {
                    ref T bb = ref MemoryMarshal.GetArrayDataReference(bias);
                    a0 = Vector256.LoadUnsafe(ref bb, (nuint)k); a1 = Vector256.LoadUnsafe(ref bb, (nuint)(k + v));
                    a2 = Vector256.LoadUnsafe(ref bb, (nuint)(k + 2 * v)); a3 = Vector256.LoadUnsafe(ref bb, (nuint)(k + 3 * v));
                }
                for (int t = 0; t < taps; t++)
                {
                    int m = map[mb + t];
                    if (m < 0) continue;
                    nuint xo = (nuint)(m * c + k), wo = (nuint)(t * c + k);
                    a0 = VectorFma.Fma(Vector256.LoadUnsafe(ref s, xo), Vector256.LoadUnsafe(ref w, wo), a0);
                    a1 = VectorFma.Fma(Vector256.LoadUnsafe(ref s, xo + (nuint)v), Vector256.LoadUnsafe(ref w, wo + (nuint)v), a1);
                    a2 = VectorFma.Fma(Vector256.LoadUnsafe(ref s, xo + (nuint)(2 * v)), Vector256.LoadUnsafe(ref w, wo + (nuint)(2 * v)), a2);
                    a3 = VectorFma.Fma(Vector256.LoadUnsafe(ref s, xo + (nuint)(3 * v)), Vector256.LoadUnsafe(ref w, wo + (nuint)(3 * v)), a3);
                }
                nuint o = (nuint)(r * c + k);
                a0.StoreUnsafe(ref d, o); a1.StoreUnsafe(ref d, o + (nuint)v);
                a2.StoreUnsafe(ref d, o + (nuint)(2 * v)); a3.StoreUnsafe(ref d, o + (nuint)(3 * v));
            }
            for (; k + v <= c; k += v)
            {
                var a0 = bias is null ? Vector256<T>.Zero : Vector256.LoadUnsafe(ref MemoryMarshal.GetArrayDataReference(bias), (nuint)k);
                for (int t = 0; t < taps; t++)
                {
                    int m = map[mb + t];
                    if (m < 0) continue;
                    a0 = VectorFma.Fma(Vector256.LoadUnsafe(ref s, (nuint)(m * c + k)), Vector256.LoadUnsafe(ref w, (nuint)(t * c + k)), a0);
                }
                a0.StoreUnsafe(ref d, (nuint)(r * c + k));
            }
        }
        for (; k < c; k++)
        {
            T a = bias is null ? T.Zero : bias[k];
            for (int t = 0; t < taps; t++)
            {
                int m = map[mb + t];
                if (m >= 0) a = T.FusedMultiplyAdd(src[m * c + k], wT[t * c + k], a);
            }
            dst[r * c + k] = a;
        }
    }

    /// <summary>Depthwise weight gradient dwT[t·C + c] = Σ_r src[map[r·taps + t]·C + c] · dy[r·C + c]; fixed row
    /// chunks summed in order, so the result does not depend on the thread count. Returns a rented array.</summary>
    public static T[] DepthwiseWeightGrad<T>(T[] src, int[] map, int taps, int n, int c, T[] dy) where T : unmanaged, IFloatingPointIeee754<T>
    {
        const int rowsPerChunk = 256;
        int chunks = Math.Max(1, (n + rowsPerChunk - 1) / rowsPerChunk);
        var partial = Scratch.RentZeroed<T>(chunks * taps * c);
        IntraOpPool.For(chunks, ch =>
        {
            var p = partial.AsSpan(ch * taps * c, taps * c);
            int r1 = Math.Min(n, (ch + 1) * rowsPerChunk);
            for (int r = ch * rowsPerChunk; r < r1; r++)
            {
                var g = dy.AsSpan(r * c, c);
                for (int t = 0; t < taps; t++)
                {
                    int m = map[r * taps + t];
                    if (m < 0) continue;
                    var pt = p.Slice(t * c, c);
                    System.Numerics.Tensors.TensorPrimitives.FusedMultiplyAdd(src.AsSpan(m * c, c), g, pt, pt);
                }
            }
        });
        var sum = Scratch.RentZeroed<T>(taps * c);
        var s = sum.AsSpan(0, taps * c);
        for (int ch = 0; ch < chunks; ch++) System.Numerics.Tensors.TensorPrimitives.Add(s, partial.AsSpan(ch * taps * c, taps * c), s);
        Scratch.Return(partial);
        return sum;
    }
}
