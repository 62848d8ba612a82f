using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Sparkle.Tensors.Cpu.Gemm;

/// <summary>
/// Copies blocks of the operands into the micro-kernel's layout. This is the only place operand strides
/// matter: a transposed operand is just the other loop order here. Partial panels at the matrix edges
/// are zero-padded to a full MR/NR so the micro-kernel never needs a bounds check.
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
            if (cs == 1)
            {
                // Row-major A: stream each row, scatter into the panel (which sits in L1).
                for (int r = 0; r < rows; r++)
                {
                    ref T row = ref Unsafe.Add(ref s, r * rs);
                    ref T col = ref Unsafe.Add(ref d, r);
                    for (int p = 0; p < kc; p++) Unsafe.Add(ref col, (nint)p * mr) = Unsafe.Add(ref row, p);
                }
            }
            else if (rs == 1)
            {
                // Column-major A (transposed operand): each k step is a contiguous run of rows.
                for (int p = 0; p < kc; p++)
                {
                    ref T from = ref Unsafe.Add(ref s, p * cs);
                    ref T to = ref Unsafe.Add(ref d, (nint)p * mr);
                    for (int r = 0; r < rows; r++) Unsafe.Add(ref to, r) = Unsafe.Add(ref from, r);
                }
            }
            else
            {
                for (int p = 0; p < kc; p++)
                {
                    ref T to = ref Unsafe.Add(ref d, (nint)p * mr);
                    for (int r = 0; r < rows; r++) Unsafe.Add(ref to, r) = Unsafe.Add(ref s, r * rs + p * cs);
                }
            }
            if (rows < mr)
                for (int p = 0; p < kc; p++)
                    for (int r = rows; r < mr; r++) Unsafe.Add(ref d, (nint)p * mr + r) = default;
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
        for (int jp = panel0 * nr; jp < nc && jp < panel1 * nr; jp += nr)
        {
            int cols = Math.Min(nr, nc - jp);
            ref T d = ref Unsafe.Add(ref dst, (nint)jp * kc);
            ref T s = ref Unsafe.Add(ref src, jp * cs);
            if (cs == 1 && cols == nr)
            {
                // Row-major B: each k step is NR contiguous elements, a straight vector copy.
                for (int p = 0; p < kc; p++)
                    CopyRow(ref Unsafe.Add(ref s, p * rs), ref Unsafe.Add(ref d, (nint)p * nr), nr);
            }
            else if (rs == 1)
            {
                // Column-major B (transposed operand): stream each column, scatter into the panel.
                for (int c = 0; c < cols; c++)
                {
                    ref T col = ref Unsafe.Add(ref s, c * cs);
                    ref T to = ref Unsafe.Add(ref d, c);
                    for (int p = 0; p < kc; p++) Unsafe.Add(ref to, (nint)p * nr) = Unsafe.Add(ref col, p);
                }
            }
            else
            {
                for (int p = 0; p < kc; p++)
                {
                    ref T to = ref Unsafe.Add(ref d, (nint)p * nr);
                    for (int c = 0; c < cols; c++) Unsafe.Add(ref to, c) = Unsafe.Add(ref s, p * rs + c * cs);
                }
            }
            if (cols < nr)
                for (int p = 0; p < kc; p++)
                    for (int c = cols; c < nr; c++) Unsafe.Add(ref d, (nint)p * nr + c) = default;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void CopyRow(ref T from, ref T to, int n)
    {
        if (Vector256.IsHardwareAccelerated && n % Vector256<T>.Count == 0)
        {
            for (int i = 0; i < n; i += Vector256<T>.Count)
                Vector256.LoadUnsafe(ref from, (nuint)i).StoreUnsafe(ref to, (nuint)i);
            return;
        }
        for (int i = 0; i < n; i++) Unsafe.Add(ref to, i) = Unsafe.Add(ref from, i);
    }
}
