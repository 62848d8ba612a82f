namespace Sparkle.Tensors.Cpu.Indexing;

/// <summary>
/// dst[p] = x[p with its coordinate along dim replaced by index[p]] — torch.gather, and index_select when the
/// index is a 1-D index broadcast (stride 0) to dst's shape. Every dst element is written once, so rows run in
/// parallel. A row whose index is constant (stride 0, the index_select case for dims before the last) is one
/// contiguous block copy when the strides allow.
/// </summary>
internal static class GatherKernel
{
    public static void Run<T, TI>(string op, Tensor x, int dim, Tensor index, Tensor dst) where T : unmanaged where TI : unmanaged
    {
        int size = x.Shape[dim];
        IndexAccess.CheckInRange<TI>(op, index, size, dim, x.Shape);
        if (dst.NumElements == 0) return;
        var xs = CpuBackend.Data<T>(x);
        var ids = CpuBackend.Data<TI>(index);
        var ds = CpuBackend.Data<T>(dst);
        int dimStride = x.Strides[dim];
        var plan = new StridedPlan(dst.Shape, dst, index, IndexAccess.BaseView(x, dst.Shape, dim));
        int dStep = plan.InnerStride(0), iStep = plan.InnerStride(1), xStep = plan.InnerStride(2);
        plan.ParallelRows((o, n) =>
        {
            int d = o[0], ip = o[1], xb = o[2];
            if (iStep == 0)
            {
                int s = xb + (int)IndexAccess.Read(ids, ip) * dimStride;
                if (dStep == 1 && xStep == 1) { xs.AsSpan(s, n).CopyTo(ds.AsSpan(d, n)); return; }
                for (int i = 0; i < n; i++, d += dStep, s += xStep) ds[d] = xs[s];
                return;
            }
            for (int i = 0; i < n; i++, d += dStep, ip += iStep, xb += xStep)
                ds[d] = xs[xb + (int)IndexAccess.Read(ids, ip) * dimStride];
        });
    }
}
