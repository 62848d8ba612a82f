using ILGPU;
using ILGPU.Runtime;

namespace Sparkle.Gpu.Kernels;

/// <summary>Gather (and index_select through a broadcast index) and deterministic scatter-add. Indices are range-checked on
/// the device: an index outside [0, size) is never dereferenced (gather writes 0, scatter-add skips it) and is reported in
/// the error cell <c>err</c> = (check id, index), first report wins; the host raises it at its next read (docs/gpu.md).</summary>
public static class IndexKernels
{
    /// <summary>dst[p] = x[base(p) + index[p] * dimStride]; operands: 0 dst, 1 index, 2 x with stride 0 along dim.</summary>
    public static void Gather<T, TI, EI>(Index1D i, ArrayView1D<T, Stride1D.Dense> x, ArrayView1D<TI, Stride1D.Dense> index,
        ArrayView1D<T, Stride1D.Dense> dst, Layout4 l, int dimStride, int size, ArrayView1D<long, Stride1D.Dense> err, long checkId)
        where T : unmanaged where TI : unmanaged where EI : struct, IElement<TI>
    {
        l.Locate(i, out int od, out int oi, out int ox, out _);
        long k = default(EI).ToLong(index[oi]);
        if ((ulong)k >= (ulong)size)
        {
            Report(err, checkId, k);
            dst[od] = default;
            return;
        }
        dst[od] = x[ox + (int)k * dimStride];
    }

    /// <summary>Records the first bad index of any checked launch since the host last read the cell.</summary>
    private static void Report(ArrayView1D<long, Stride1D.Dense> err, long checkId, long k)
    {
        if (Atomic.CompareExchange(ref err[0], 0, checkId) == 0) err[1] = k;
    }

    /// <summary>One thread per line along dim (operands over the index shape with dim set to 1: 0 src, 1 index,
    /// 2 dst with stride 0 along dim). Different lines never share a target, and each line adds in ascending
    /// order, so the sums do not depend on scheduling (no atomics).</summary>
    public static void ScatterAdd<T, TE, TI, EI>(Index1D i, ArrayView1D<T, Stride1D.Dense> src, ArrayView1D<TI, Stride1D.Dense> index,
        ArrayView1D<T, Stride1D.Dense> dst, Layout4 lines, ScatterLine line, int size, ArrayView1D<long, Stride1D.Dense> err, long checkId)
        where T : unmanaged where TE : struct, IElement<T> where TI : unmanaged where EI : struct, IElement<TI>
    {
        lines.Locate(i, out int os, out int oi, out int od, out _);
        for (int k = 0; k < line.Length; k++)
        {
            long j = default(EI).ToLong(index[oi + k * line.IndexStride]);
            if ((ulong)j >= (ulong)size)
            {
                Report(err, checkId, j);
                continue;
            }
            int t = od + (int)j * line.DstDimStride;
            dst[t] = default(TE).Add(dst[t], src[os + k * line.SrcStride]);
        }
    }
}

/// <summary>The dim that scatter-add walks within one thread.</summary>
public struct ScatterLine
{
    public int Length, SrcStride, IndexStride, DstDimStride;
}
