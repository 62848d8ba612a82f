namespace Sparkle.Tensors.Cpu.Indexing;

/// <summary>
/// In place dst[p with coordinate dim replaced by index[p]] += src[p] for p over index's shape (torch.scatter_add_).
/// Deterministic: two index positions can only hit the same dst element when they differ along dim alone, so
/// the plan runs each line along dim sequentially (in ascending order) and only distinct lines in parallel.
/// The sums, and their rounding, are therefore the same for any thread count.
/// </summary>
internal static class ScatterAddKernel
{
    public static void Run<T, TI>(Tensor dst, int dim, Tensor index, Tensor src) where T : unmanaged where TI : unmanaged
    {
        const string op = "ScatterAdd";
        IndexAccess.CheckInRange<TI>(op, index, dst.Shape[dim], dim, dst.Shape);
        if (index.NumElements == 0) return;
        var ds = CpuBackend.Data<T>(dst);
        var ids = CpuBackend.Data<TI>(index);
        var ss = CpuBackend.Data<T>(src);
        int dimStride = dst.Strides[dim];
        var shape = index.ShapeArray();
        var srcView = new Tensor(src.Storage, src.Offset, shape, src.StridesArray());
        var dstBase = IndexAccess.BaseView(dst, shape, dim);
        // Move dim last, so that plan rows run along dim (dstBase's stride 0 there keeps it from merging).
        var perm = Enumerable.Range(0, shape.Length).Where(d => d != dim).Append(dim).ToArray();
        var p0 = srcView.Permute(perm); var p1 = index.Permute(perm); var p2 = dstBase.Permute(perm);
        var plan = new StridedPlan(p0.Shape, p0, p1, p2);
        int sStep = plan.InnerStride(0), iStep = plan.InnerStride(1), dStep = plan.InnerStride(2);
        RowAction row = (o, n) =>
        {
            int s = o[0], ip = o[1], d = o[2];
            for (int i = 0; i < n; i++, s += sStep, ip += iStep, d += dStep)
            {
                int t = d + (int)IndexAccess.Read(ids, ip) * dimStride;
                ds[t] = IndexAccess.Add(ds[t], ss[s]);
            }
        };
        if (shape[dim] == 1)
        {
            // One element per line: no two elements share a target, any split is safe.
            plan.ParallelRows(row);
            return;
        }
        // Rows are whole lines along dim; split only between rows.
        int grain = Math.Max(1, (1 << 15) / Math.Max(1, plan.RowLength));
        IntraOpPool.ForRange(plan.Rows, grain, (a, b) => plan.ForRows(a, b, row));
    }
}
