using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Sparkle.Tensors.Cpu.Gemm;

namespace Sparkle.Tensors.Cpu.Conv;

// Tile sinks of the input-gradient GEMMs: a tile of the column matrix (one value per (input channel, tap,
// output pixel)) is added into the input gradient where that tap of that pixel reads (col2im). A work item
// owns a disjoint part of dx and adds its tiles in a fixed order, so the sums do not depend on threads.

/// <summary>Channels-first: tile rows are (c, kh, kw) of the group (row index i), columns are pixels q0 + j of image n.</summary>
internal struct Col2ImNchw<T>(Act<T> dx, ConvGeometry g, int n, int c0, int q0) : ITileSink<T> where T : unmanaged
{
    public bool IsMatrix => false;
    public nint Ldc => 0;
    public ref T At(int i, int j) => throw new UnreachableException();

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void AddTile(ref T tile, int ldt, int i0, int j0, int rows, int cols)
    {
        var runs = new PixelRuns(stackalloc int[4 * 64], q0 + j0, cols, g.OW);
        ref T dst0 = ref MemoryMarshal.GetArrayDataReference(dx.Data);
        int taps = g.Taps;
        bool unit = g.SW == 1 && dx.SW == 1;
        for (int r = 0; r < rows; r++)
        {
            int row = i0 + r, c = row / taps, t = row % taps;
            int hOff = t / g.KW * g.DH - g.PH, wOff = t % g.KW * g.DW - g.PW;
            int chan = dx.Offset + n * dx.SN + (c0 + c) * dx.SC;
            ref T src = ref Unsafe.Add(ref tile, r * ldt);
            for (int s = 0; s < runs.Count; s++)
            {
                int oh = runs.Data[4 * s], ow = runs.Data[4 * s + 1], len = runs.Data[4 * s + 2], col = runs.Data[4 * s + 3];
                int ih = oh * g.SH + hOff;
                if ((uint)ih >= (uint)g.H) continue;
                int iw0 = ow * g.SW + wOff;
                ref T drow = ref Unsafe.Add(ref dst0, chan + ih * dx.SH);
                ref T srun = ref Unsafe.Add(ref src, col);
                if (unit)
                {
                    int lo = Math.Clamp(-iw0, 0, len), hi = Math.Clamp(g.W - iw0, lo, len);
                    Runs.Add(ref Unsafe.Add(ref srun, lo), ref Unsafe.Add(ref drow, iw0 + lo), hi - lo);
                }
                else
                {
                    for (int i = 0, iw = iw0; i < len; i++, iw += g.SW)
                        if ((uint)iw < (uint)g.W)
                        {
                            ref T d = ref Unsafe.Add(ref drow, iw * dx.SW);
                            d = ScalarOps.Add(d, Unsafe.Add(ref srun, i));
                        }
                }
            }
        }
    }
}

/// <summary>Channels-last: tile rows are pixels q0 + i of image n, columns are (kh, kw, c) of the group.</summary>
internal struct Col2ImNhwc<T>(Act<T> dx, ConvGeometry g, int n, int c0, int q0) : ITileSink<T> where T : unmanaged
{
    public bool IsMatrix => false;
    public nint Ldc => 0;
    public ref T At(int i, int j) => throw new UnreachableException();

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void AddTile(ref T tile, int ldt, int i0, int j0, int rows, int cols)
    {
        ref T dst0 = ref MemoryMarshal.GetArrayDataReference(dx.Data);
        int cg = g.Cg;
        for (int r = 0; r < rows; r++)
        {
            int q = q0 + i0 + r, oh = q / g.OW, ow = q % g.OW;
            int bh = oh * g.SH - g.PH, bw = ow * g.SW - g.PW;
            int pix = dx.Offset + n * dx.SN + (c0) * dx.SC;
            ref T src = ref Unsafe.Add(ref tile, r * ldt);
            int j = 0;
            while (j < cols)
            {
                int col = j0 + j, t = col / cg, c = col % cg, len = Math.Min(cg - c, cols - j);
                int ih = bh + t / g.KW * g.DH, iw = bw + t % g.KW * g.DW;
                if ((uint)ih < (uint)g.H && (uint)iw < (uint)g.W)
                    Runs.Add(ref Unsafe.Add(ref src, j), ref Unsafe.Add(ref dst0, pix + ih * dx.SH + iw * dx.SW + c), len);
                j += len;
            }
        }
    }
}
