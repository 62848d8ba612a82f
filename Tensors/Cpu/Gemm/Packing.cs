using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Sparkle.Tensors.Cpu.Gemm;

/// <summary>
/// Copies blocks of the operands into the micro-kernel's layout. This is the only place operand strides
/// matter: a transposed operand is just the other loop order here. Partial panels at the matrix edges
/// are zero-padded to a full MR/NR so the micro-kernel never needs a bounds check.
/// Both packings come down to two shapes of copy: a panel whose k steps are contiguous runs in the
/// source (a plain copy per k) or one whose panel lines are contiguous along k (an interleave of
/// lines, done four lines at a time so each k step is four loads and four adjacent stores).
/// </summary>
internal static class Packing<T, TK> where T : unmanaged where TK : IMicroKernel<T>
{
    /// <summary>Packs rows [0, mc) x cols [0, kc) of <paramref name="a"/> into MR-row micro-panels:
    /// panel i holds element (i*MR + r, p) at dst[i*MR*kc + p*MR + r].</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void PackA(in StridedMatrix<T> a, int mc, int kc, ref T dst)
    {
        int mr = TK.MR;
        nint rs = a.RowStride, cs = a.ColStride;
        ref T src = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(a.Data), a.Offset);
        for (int ip = 0; ip < mc; ip += mr)
        {
            int rows = Math.Min(mr, mc - ip);
            ref T d = ref Unsafe.Add(ref dst, (nint)ip * kc);
            ref T s = ref Unsafe.Add(ref src, ip * rs);
            // A row-major block is usually cold (a 1 KB run of each row, rows ldA apart), and such short
            // strided runs barely train the hardware prefetcher: fetch the next panel's rows ahead.
            if (cs == 1 && ip + mr < mc)
                CachePrefetch.Tile(ref Unsafe.Add(ref s, mr * rs), rs, Math.Min(mr, mc - ip - mr), kc);
            if (cs == 1 || rs != 1)
                Interleave(ref s, rs, cs, rows, kc, ref d, mr);  // rows run along k (row-major A, or general strides)
            else
                for (int p = 0; p < kc; p++)                      // column-major A: each k step is `rows` contiguous
                    Copy(ref Unsafe.Add(ref s, p * cs), ref Unsafe.Add(ref d, (nint)p * mr), rows);
            ZeroPad(ref d, rows, mr, kc);
        }
    }

    /// <summary>Packs rows [0, kc) x cols [0, nc) of <paramref name="b"/> into NR-column micro-panels:
    /// panel j holds element (p, j*NR + c) at dst[j*NR*kc + p*NR + c]. Packs only panels [panel0, panel1).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void PackB(in StridedMatrix<T> b, int kc, int nc, int panel0, int panel1, ref T dst)
    {
        int nr = TK.NR;
        nint rs = b.RowStride, cs = b.ColStride;
        ref T src = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(b.Data), b.Offset);
        int full = Math.Min(panel1, nc / nr); // panels with all NR columns present
        if (cs == 1 && panel0 < full)
        {
            // Row-major B: row by row across all the full panels, so the source is read in long
            // sequential runs the hardware prefetcher follows (B is usually cold here). Panel by panel
            // would touch kc lines ldB apart per panel: 1.6 -> 0.9 ms per 1024^3 GEMM.
            for (int p = 0; p < kc; p++)
            {
                ref T row = ref Unsafe.Add(ref src, p * rs);
                for (int jpanel = panel0; jpanel < full; jpanel++)
                    Copy(ref Unsafe.Add(ref row, (nint)jpanel * nr), ref Unsafe.Add(ref dst, (nint)jpanel * nr * kc + (nint)p * nr), nr);
            }
            panel0 = full;
        }
        for (int jp = panel0 * nr; jp < nc && jp < panel1 * nr; jp += nr)
        {
            int cols = Math.Min(nr, nc - jp);
            ref T d = ref Unsafe.Add(ref dst, (nint)jp * kc);
            ref T s = ref Unsafe.Add(ref src, jp * cs);
            if (cs == 1)
                for (int p = 0; p < kc; p++)                      // row-major B: each k step is `cols` contiguous
                    Copy(ref Unsafe.Add(ref s, p * rs), ref Unsafe.Add(ref d, (nint)p * nr), cols);
            else
                Interleave(ref s, cs, rs, cols, kc, ref d, nr);   // columns run along k (column-major B, or general)
            ZeroPad(ref d, cols, nr, kc);
        }
    }

    /// <summary>dst[p*step + i] = line_i[p] for lines i &lt; count (line i starts lineStride after line i-1,
    /// consecutive elements of a line are along apart), p &lt; len.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Interleave(ref T src, nint lineStride, nint along, int count, int len, ref T dst, int step)
    {
        int i = 0;
        for (; i + 4 <= count; i += 4)
        {
            ref T l0 = ref Unsafe.Add(ref src, i * lineStride);
            ref T l1 = ref Unsafe.Add(ref l0, lineStride);
            ref T l2 = ref Unsafe.Add(ref l1, lineStride);
            ref T l3 = ref Unsafe.Add(ref l2, lineStride);
            ref T to = ref Unsafe.Add(ref dst, i);
            nint at = 0;
            for (int p = 0; p < len; p++, at += along)
            {
                to = Unsafe.Add(ref l0, at);
                Unsafe.Add(ref to, 1) = Unsafe.Add(ref l1, at);
                Unsafe.Add(ref to, 2) = Unsafe.Add(ref l2, at);
                Unsafe.Add(ref to, 3) = Unsafe.Add(ref l3, at);
                to = ref Unsafe.Add(ref to, step);
            }
        }
        for (; i < count; i++)
        {
            ref T line = ref Unsafe.Add(ref src, i * lineStride);
            ref T to = ref Unsafe.Add(ref dst, i);
            nint at = 0;
            for (int p = 0; p < len; p++, at += along)
            {
                to = Unsafe.Add(ref line, at);
                to = ref Unsafe.Add(ref to, step);
            }
        }
    }

    /// <summary>Copies n contiguous elements (n is at most a panel width: a few vectors).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Copy(ref T from, ref T to, int n)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i + Vector256<T>.Count <= n; i += Vector256<T>.Count)
                Vector256.LoadUnsafe(ref from, (nuint)i).StoreUnsafe(ref to, (nuint)i);
            if (i + Vector128<T>.Count <= n)
            {
                Vector128.LoadUnsafe(ref from, (nuint)i).StoreUnsafe(ref to, (nuint)i);
                i += Vector128<T>.Count;
            }
        }
        for (; i < n; i++) Unsafe.Add(ref to, i) = Unsafe.Add(ref from, i);
    }

    /// <summary>Zeroes elements [used, width) of each of the len steps of a partial panel.</summary>
    private static void ZeroPad(ref T panel, int used, int width, int len)
    {
        if (used == width) return;
        for (int p = 0; p < len; p++)
            for (int c = used; c < width; c++) Unsafe.Add(ref panel, (nint)p * width + c) = default;
    }
}
