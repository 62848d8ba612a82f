using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Sparkle.Tensors.Cpu.Gemm;

namespace Sparkle.Tensors.Cpu.Conv;

/// <summary>The left GEMM operand of a convolution pass: rows [i0, i0 + rows) x k [p0, p0 + kc) as MR-row
/// micro-panels (element (i0 + i·MR + r, p0 + p) at i·MR·kc + p·MR + r, rows past the end zero). Either packed
/// into <paramref name="scratch"/> (im2col of an activation) or found in a buffer packed once per call (weights).</summary>
internal interface IPanelsA<T>
{
    ref T Block(int i0, int rows, int p0, int kc, int mr, ref T scratch);
}

/// <summary>The right GEMM operand: columns [j0, j0 + cols) x k [p0, p0 + kc) as one NR-wide micro-panel
/// (element (p0 + p, j0 + j) at p·NR + j, columns past the end zero).</summary>
internal interface IPanelB<T>
{
    ref T Panel(int j0, int cols, int p0, int kc, int nr, ref T scratch);
}

/// <summary>Where the GEMM's C tiles go. A matrix sink (C[i, j] at At(i, j), unit column stride, row stride Ldc)
/// lets the micro-kernel store directly; any other sink gets each finished tile to add somewhere (col2im).</summary>
internal interface ITileSink<T>
{
    bool IsMatrix { get; }
    nint Ldc { get; }
    ref T At(int i, int j);
    /// <summary>Adds rows x cols of <paramref name="tile"/> (row stride ldt) as C rows i0.., columns j0...</summary>
    void AddTile(ref T tile, int ldt, int i0, int j0, int rows, int cols);
}

/// <summary>
/// The packed GEMM of the convolution passes, on one thread: C (+)= A·B with A, B and C supplied by the
/// structs above, so im2col happens inside the packing (nothing the size of an im2col matrix is ever
/// written) and col2im inside the tile store. Loop order as in <see cref="GemmDriver{T, TK}"/>: k blocks
/// (equal, at most <see cref="GemmBlocking.KC"/>), A blocks of TK.MC rows (L2), B micro-panels of TK.NR
/// columns (L1), register tiles. Parallelism and determinism come from the callers, which cut a pass into
/// work items by shape alone and give every output element to exactly one item.
/// </summary>
internal static class ConvGemm<T, TK> where T : unmanaged where TK : IMicroKernel<T>
{
    /// <summary>Equal k blocks of at most KC, depending on k alone.</summary>
    public static int KcStep(int k)
    {
        int blocks = (k + GemmBlocking.KC - 1) / GemmBlocking.KC;
        return blocks == 0 ? 0 : (k + blocks - 1) / blocks;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run<TA, TB, TC>(ref TA a, ref TB b, ref TC c, int m, int n, int k, bool accumulate)
        where TA : struct, IPanelsA<T> where TB : struct, IPanelB<T> where TC : struct, ITileSink<T>
    {
        if (m <= 0 || n <= 0 || k <= 0) return;
        int mr = TK.MR, nr = TK.NR, mcMax = TK.MC;
        int kcStep = KcStep(k);
        ref T aScratch = ref ConvBuffers<T>.A.Get((Math.Min(m, mcMax) + mr) * kcStep);
        ref T bScratch = ref ConvBuffers<T>.B.Get(kcStep * nr);
        ref T tile = ref ConvBuffers<T>.Tile.Get(mr * nr);
        bool matrix = c.IsMatrix;
        nint ldc = matrix ? c.Ldc : 0;
        for (int p0 = 0; p0 < k; p0 += kcStep)
        {
            int kc = Math.Min(kcStep, k - p0);
            bool add = accumulate || p0 > 0;
            for (int i0 = 0; i0 < m; i0 += mcMax)
            {
                int mc = Math.Min(mcMax, m - i0);
                ref T aBlock = ref a.Block(i0, mc, p0, kc, mr, ref aScratch);
                for (int j0 = 0; j0 < n; j0 += nr)
                {
                    int cols = Math.Min(nr, n - j0);
                    ref T bPanel = ref b.Panel(j0, cols, p0, kc, nr, ref bScratch);
                    for (int i = 0; i < mc; i += mr)
                    {
                        int rows = Math.Min(mr, mc - i);
                        ref T aPanel = ref Unsafe.Add(ref aBlock, (nint)i * kc);
                        if (matrix && rows == mr && cols == nr)
                        {
                            TK.Run(kc, ref aPanel, ref bPanel, ref c.At(i0 + i, j0), ldc, add);
                            continue;
                        }
                        TK.Run(kc, ref aPanel, ref bPanel, ref tile, nr, add: false);
                        if (matrix) StoreEdge(ref tile, nr, ref c.At(i0 + i, j0), ldc, rows, cols, add);
                        else c.AddTile(ref tile, nr, i0 + i, j0, rows, cols);
                    }
                }
            }
        }
    }

    private static void StoreEdge(ref T tile, int ldt, ref T c, nint ldc, int rows, int cols, bool add)
    {
        for (int r = 0; r < rows; r++)
        {
            ref T cRow = ref Unsafe.Add(ref c, r * ldc);
            ref T tRow = ref Unsafe.Add(ref tile, r * ldt);
            if (add) for (int j = 0; j < cols; j++) Unsafe.Add(ref cRow, j) = ScalarOps.Add(Unsafe.Add(ref cRow, j), Unsafe.Add(ref tRow, j));
            else for (int j = 0; j < cols; j++) Unsafe.Add(ref cRow, j) = Unsafe.Add(ref tRow, j);
        }
    }
}

/// <summary>An operand packed once per call in the layout the driver reads: for the k block starting at p0
/// (all blocks before it have the same size), panels of width <c>w</c> over the padded extent <c>extent</c>:
/// element (index i, k p0 + p) at p0·extent + (i / w)·w·kc + p·w + i % w.</summary>
/// <paramref name="first"/> (a multiple of w) is added to every requested index, so a work item can own a range of panels.
internal readonly struct Prepacked<T>(T[] data, int start, int extent, int first = 0) : IPanelsA<T>, IPanelB<T>
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ref T Block(int i0, int rows, int p0, int kc, int mr, ref T scratch)
        => ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(data), start + (nint)p0 * extent + (nint)(i0 + first) * kc);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ref T Panel(int j0, int cols, int p0, int kc, int nr, ref T scratch)
        => ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(data), start + (nint)p0 * extent + (nint)(j0 + first) * kc);
}

/// <summary>C as a plain row-major matrix (unit column stride).</summary>
internal readonly struct MatrixSink<T>(T[] data, int offset, int ldc) : ITileSink<T>
{
    public bool IsMatrix => true;
    public nint Ldc => ldc;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ref T At(int i, int j) => ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(data), offset + (nint)i * ldc + j);

    public void AddTile(ref T tile, int ldt, int i0, int j0, int rows, int cols) => throw new UnreachableException();
}
