using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Sparkle.Tensors.Cpu;
using Sparkle.Tensors.Cpu.Gemm;

namespace Sparkle.Tensors.Cpu.Sparse;

/// <summary>
/// dst(n, N) = Σ_t Σ_k src[map[r·taps + t]][k] · W[t][k][:] for a convolution through a neighbour map, without an
/// im2col matrix or a packed copy of it: the GEMM micro-kernel's 6 rows x 2 vectors tile (12 accumulators, 2 weight
/// loads and 6 broadcasts per k step), whose 6 left-hand rows are read in place from the channels-last rows each tap
/// points at (a masked or outside neighbour points at a zero row). The weight is packed once per call into column
/// blocks of 2 vectors, [block][t][k][2·VW], zero-padded past N. Each output element is computed by one work item
/// (tiles of 6 rows), in a fixed order: results do not depend on the thread count.
/// </summary>
internal static class ImplicitGemm
{
    public const int MR = 6;

    /// <summary>Packs w[t][k][n] (element (t·K + k)·ldw + n, n &lt; N) into [block][t][k][2·VW], in an array rented from
    /// ArrayPool&lt;T&gt;.Shared through <see cref="Scratch"/> (weight-sized, once per call: renting keeps a training step off the GC); the caller
    /// returns it.</summary>
    public static T[] Pack<T>(ReadOnlySpan<T> w, int taps, int k, int n, Func<int, int, int, int> index) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int nr = 2 * Vector256<T>.Count, blocks = (n + nr - 1) / nr;
        int size = blocks * taps * k * nr;
        var p = Scratch.Rent<T>(Math.Max(1, size));
        if (n % nr != 0) Array.Clear(p, 0, size);                    // the last block's padding columns read as zeros
        for (int blk = 0; blk < blocks; blk++)
            for (int t = 0; t < taps; t++)
                for (int c = 0; c < k; c++)
                    for (int j = 0; j < nr && blk * nr + j < n; j++)
                        p[((blk * taps + t) * k + c) * nr + j] = w[index(t, c, blk * nr + j)];
        return p;
    }

    /// <summary>dst[r·ldDst + j] (+)= Σ_t Σ_c src[map[r·taps + t]·k + c] · W[t][c][j], r &lt; rows, j &lt; n; src has k
    /// values per row and rows that map does not name are never read (−1 reads as zero).</summary>
    public static void Run<T>(T[] src, int srcRows, int k, int[] map, int taps, int rows, T[] packed, int n, T[] dst, int ldDst, T[]? bias)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int nr = 2 * Vector256<T>.Count, blocks = (n + nr - 1) / nr, tiles = (rows + MR - 1) / MR;
        if (src.Length < (srcRows + 1) * k) throw new ArgumentException("source rows need one spare zero row");
        src.AsSpan(srcRows * k, k).Clear();
        IntraOpPool.ForRange(tiles, 4, (t0, t1) =>
        {
            Span<int> off = stackalloc int[MR * taps];
            var tile = Scratch.Rent<T>(MR * nr);
            try
            {
                for (int ti = t0; ti < t1; ti++)
                {
                    int r0 = ti * MR, m = Math.Min(MR, rows - r0);
                    for (int i = 0; i < MR; i++)
                        for (int t = 0; t < taps; t++)
                        {
                            int s = i < m ? map[(r0 + i) * taps + t] : -1;
                            off[t * MR + i] = (s < 0 ? srcRows : s) * k;
                        }
                    for (int blk = 0; blk < blocks; blk++)
                    {
                        int cols = Math.Min(nr, n - blk * nr);
                        ref T w = ref packed[blk * taps * k * nr];
                        if (m == MR && cols == nr && bias is null)
                            Tile(ref MemoryMarshal.GetArrayDataReference(src), off, taps, k, ref w, ref dst[r0 * ldDst + blk * nr], ldDst);
                        else
                        {
                            Tile(ref MemoryMarshal.GetArrayDataReference(src), off, taps, k, ref w, ref tile[0], nr);
                            for (int i = 0; i < m; i++)
                                for (int j = 0; j < cols; j++)
                                    dst[(r0 + i) * ldDst + blk * nr + j] = tile[i * nr + j] + (bias is null ? T.Zero : bias[blk * nr + j]);
                        }
                    }
                }
            }
            finally { Scratch.Return(tile); }
        });
    }

    /// <summary>6 x 2-vector tile: out[i·ld + j] = Σ_t Σ_c src[off[t·6 + i] + c] · w[(t·k + c)·NR + j].</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile<T>(ref T src, ReadOnlySpan<int> off, int taps, int k, ref T w, ref T outp, int ld)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        nuint vw = (nuint)Vector256<T>.Count, nr = 2 * vw;
        Vector256<T> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector256<T> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        ref T wp = ref w;
        for (int t = 0; t < taps; t++)
        {
            ref T a0 = ref Unsafe.Add(ref src, off[t * MR]);
            ref T a1 = ref Unsafe.Add(ref src, off[t * MR + 1]);
            ref T a2 = ref Unsafe.Add(ref src, off[t * MR + 2]);
            ref T a3 = ref Unsafe.Add(ref src, off[t * MR + 3]);
            ref T a4 = ref Unsafe.Add(ref src, off[t * MR + 4]);
            ref T a5 = ref Unsafe.Add(ref src, off[t * MR + 5]);
            for (nint p = 0; p < k; p++)
            {
                var b0 = Vector256.LoadUnsafe(ref wp);
                var b1 = Vector256.LoadUnsafe(ref wp, vw);
                wp = ref Unsafe.Add(ref wp, nr);
                var x = Vector256.Create(Unsafe.Add(ref a0, p));
                c00 = VectorFma.Fma(x, b0, c00); c01 = VectorFma.Fma(x, b1, c01);
                x = Vector256.Create(Unsafe.Add(ref a1, p));
                c10 = VectorFma.Fma(x, b0, c10); c11 = VectorFma.Fma(x, b1, c11);
                x = Vector256.Create(Unsafe.Add(ref a2, p));
                c20 = VectorFma.Fma(x, b0, c20); c21 = VectorFma.Fma(x, b1, c21);
                x = Vector256.Create(Unsafe.Add(ref a3, p));
                c30 = VectorFma.Fma(x, b0, c30); c31 = VectorFma.Fma(x, b1, c31);
                x = Vector256.Create(Unsafe.Add(ref a4, p));
                c40 = VectorFma.Fma(x, b0, c40); c41 = VectorFma.Fma(x, b1, c41);
                x = Vector256.Create(Unsafe.Add(ref a5, p));
                c50 = VectorFma.Fma(x, b0, c50); c51 = VectorFma.Fma(x, b1, c51);
            }
        }
        nint l = ld;
        c00.StoreUnsafe(ref outp); c01.StoreUnsafe(ref outp, vw);
        ref T o = ref Unsafe.Add(ref outp, l);
        c10.StoreUnsafe(ref o); c11.StoreUnsafe(ref o, vw);
        o = ref Unsafe.Add(ref o, l);
        c20.StoreUnsafe(ref o); c21.StoreUnsafe(ref o, vw);
        o = ref Unsafe.Add(ref o, l);
        c30.StoreUnsafe(ref o); c31.StoreUnsafe(ref o, vw);
        o = ref Unsafe.Add(ref o, l);
        c40.StoreUnsafe(ref o); c41.StoreUnsafe(ref o, vw);
        o = ref Unsafe.Add(ref o, l);
        c50.StoreUnsafe(ref o); c51.StoreUnsafe(ref o, vw);
    }
}
