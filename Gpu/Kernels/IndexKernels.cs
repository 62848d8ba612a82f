using ILGPU;
using ILGPU.Runtime;

namespace Sparkle.Gpu.Kernels;

/// <summary>Gather (and index_select through a broadcast index) and deterministic scatter-add.</summary>
public static class IndexKernels
{
    /// <summary>dst[p] = x[base(p) + index[p] * dimStride]; operands: 0 dst, 1 index, 2 x with stride 0 along dim.</summary>
    public static void Gather<T, TI, EI>(Index1D i, ArrayView1D<T, Stride1D.Dense> x, ArrayView1D<TI, Stride1D.Dense> index,
        ArrayView1D<T, Stride1D.Dense> dst, Layout4 l, int dimStride)
        where T : unmanaged where TI : unmanaged where EI : struct, IElement<TI>
    {
        l.Locate(i, out int od, out int oi, out int ox, out _);
        dst[od] = x[ox + (int)default(EI).ToLong(index[oi]) * dimStride];
    }

    /// <summary>One thread per line along dim (operands over the index shape with dim set to 1: 0 src, 1 index,
    /// 2 dst with stride 0 along dim). Different lines never share a target, and each line adds in ascending
    /// order, so the sums do not depend on scheduling (no atomics).</summary>
    public static void ScatterAdd<T, TE, TI, EI>(Index1D i, ArrayView1D<T, Stride1D.Dense> src, ArrayView1D<TI, Stride1D.Dense> index,
        ArrayView1D<T, Stride1D.Dense> dst, Layout4 lines, ScatterLine line)
        where T : unmanaged where TE : struct, IElement<T> where TI : unmanaged where EI : struct, IElement<TI>
    {
        lines.Locate(i, out int os, out int oi, out int od, out _);
        for (int k = 0; k < line.Length; k++)
        {
            int t = od + (int)default(EI).ToLong(index[oi + k * line.IndexStride]) * line.DstDimStride;
            dst[t] = default(TE).Add(dst[t], src[os + k * line.SrcStride]);
        }
    }
}

/// <summary>The dim that scatter-add walks within one thread.</summary>
public struct ScatterLine
{
    public int Length, SrcStride, IndexStride, DstDimStride;
}
