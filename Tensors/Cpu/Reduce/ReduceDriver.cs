using System.Buffers;
using System.Numerics;
using Sparkle.Tensors.Cpu.Elementwise;

namespace Sparkle.Tensors.Cpu.Reduce;

/// <summary>
/// Runs a reduction described by a <see cref="ReducePlan"/>: out[pos] = finalize(combine over R of map(x, center[pos])),
/// where pos is the output's position in the contiguous keepdim result. Work items are (output unit, chunk of R);
/// with several chunks, each item writes a partial and the partials are combined in chunk order afterwards.
/// The item partition depends only on the plan, so results do not depend on the thread count.
/// </summary>
internal static class ReduceDriver
{
    /// <param name="divisor">When <paramref name="divide"/>, every result is divided by it (mean, variance).</param>
    public static void Run<T, TK>(ReducePlan p, T[] xs, T[]? centers, T[] outArr, int outOffset, T divisor, bool divide)
        where T : unmanaged, INumber<T> where TK : IReduceKernel<T>
    {
        if (p.M == 0) return;
        if (p.N == 0)
        {
            T empty = divide ? TK.Identity / divisor : TK.Identity;
            Array.Fill(outArr, empty, outOffset, p.M);
            return;
        }
        T[]? partial = p.Chunks > 1 ? new T[p.Chunks * p.M] : null;
        var sink = new Sink<T>(partial, outArr, outOffset, p.M, divisor, divide);
        switch (p.Kind)
        {
            case ReduceKind.Inner: RunInner<T, TK>(p, xs, centers, sink); break;
            case ReduceKind.Outer: RunOuter<T, TK>(p, xs, centers, sink); break;
            default: RunGeneric<T, TK>(p, xs, centers, sink); break;
        }
        if (partial is null) return;
        IntraOpPool.ForRange(p.M, Math.Max(1, (1 << 15) / p.Chunks), (s, e) =>
        {
            for (int pos = s; pos < e; pos++)
            {
                T acc = partial[pos];
                for (int c = 1; c < p.Chunks; c++) acc = TK.Combine(acc, partial[c * p.M + pos]);
                sink.Final(pos, acc);
            }
        });
    }

    /// <summary>Where an item's result goes: its partial slot, or (one chunk) straight to the output.</summary>
    private sealed class Sink<T>(T[]? partial, T[] outArr, int outOffset, int m, T divisor, bool divide) where T : unmanaged, INumber<T>
    {
        public void Put(int chunk, int pos, T acc)
        {
            if (partial is null) Final(pos, acc);
            else partial[chunk * m + pos] = acc;
        }

        public void Final(int pos, T acc) => outArr[outOffset + pos] = divide ? acc / divisor : acc;
    }

    private static int Grain(int elementsPerItem) => Math.Max(1, (1 << 15) / Math.Max(1, elementsPerItem));

    private static void RunInner<T, TK>(ReducePlan p, T[] xs, T[]? centers, Sink<T> sink)
        where T : unmanaged, INumber<T> where TK : IReduceKernel<T>
    {
        int lr = p.RShape[^1], outerR = p.RShape.Length - 1, rows = p.N / lr;
        int items = p.M * p.Chunks;
        IntraOpPool.ForRange(items, Grain(Math.Min(p.N, ReducePlan.ChunkElements)), (s, e) =>
        {
            if (p.Chunks == 1 && rows == 1)
            {
                // one contiguous row per output (LayerNorm-like): walk the outputs with odometers, no per-item division
                var xo = new Odometer(p.KShape, p.KxStrides, p.XOffset, s);
                var po = new Odometer(p.KShape, p.KdStrides, 0, s);
                for (int o = s; o < e; o++, xo.Next(), po.Next())
                {
                    T center = TK.UsesCenter ? centers![po.Offset] : default;
                    sink.Put(0, po.Offset, ReduceRows.Along<T, TK>(ref ElementData.At(xs, xo.Offset), lr, center, p.Width));
                }
                return;
            }
            for (int item = s; item < e; item++)
            {
                int o = item / p.Chunks, c = item % p.Chunks;
                int xBase = p.XOffset + Odometer.OffsetOf(p.KShape, p.KxStrides, o);
                int pos = Odometer.OffsetOf(p.KShape, p.KdStrides, o);
                T center = TK.UsesCenter ? centers![pos] : default;
                T acc;
                if (p.SegmentsPerRow > 1)
                {
                    int row = c / p.SegmentsPerRow, start = c % p.SegmentsPerRow * ReducePlan.ChunkElements;
                    int xo = xBase + Odometer.OffsetOf(p.RShape, p.RxStrides, row, outerR) + start;
                    acc = ReduceRows.Along<T, TK>(ref ElementData.At(xs, xo), Math.Min(ReducePlan.ChunkElements, lr - start), center, p.Width);
                }
                else
                {
                    int r0 = c * p.RowsPerChunk, r1 = Math.Min(rows, r0 + p.RowsPerChunk);
                    var odo = new Odometer(p.RShape, p.RxStrides, xBase, r0, outerR);
                    acc = TK.Identity;
                    for (int r = r0; r < r1; r++, odo.Next())
                        acc = TK.Combine(acc, ReduceRows.Along<T, TK>(ref ElementData.At(xs, odo.Offset), lr, center, p.Width));
                }
                sink.Put(c, pos, acc);
            }
        });
    }

    private static void RunOuter<T, TK>(ReducePlan p, T[] xs, T[]? centers, Sink<T> sink)
        where T : unmanaged, INumber<T> where TK : IReduceKernel<T>
    {
        int len = p.OuterRow, segs = p.OuterSegments, outerK = p.KShape.Length - 1, dInner = p.KdStrides[^1];
        int groups = p.M / len, items = groups * segs * p.Chunks;
        IntraOpPool.ForRange(items, Grain(Math.Min(len, ReducePlan.OuterSegment) * p.RowsPerChunk), (s, e) =>
        {
            var acc = ArrayPool<T>.Shared.Rent(ReducePlan.OuterSegment);
            var cbuf = TK.UsesCenter ? ArrayPool<T>.Shared.Rent(ReducePlan.OuterSegment) : acc;
            try
            {
                for (int item = s; item < e; item++)
                {
                    int c = item % p.Chunks, gs = item / p.Chunks, g = gs / segs, j0 = gs % segs * ReducePlan.OuterSegment;
                    int n = Math.Min(ReducePlan.OuterSegment, len - j0);
                    int xBase = p.XOffset + Odometer.OffsetOf(p.KShape, p.KxStrides, g, outerK) + j0;
                    int dBase = Odometer.OffsetOf(p.KShape, p.KdStrides, g, outerK) + j0 * dInner;
                    var a = acc.AsSpan(0, n);
                    a.Fill(TK.Identity);
                    if (TK.UsesCenter) for (int j = 0; j < n; j++) cbuf[j] = centers![dBase + j * dInner];
                    int r0 = c * p.RowsPerChunk, r1 = Math.Min(p.N, r0 + p.RowsPerChunk);
                    var odo = new Odometer(p.RShape, p.RxStrides, xBase, r0);
                    var cs = cbuf.AsSpan(0, n);
                    int r = r0;
                    for (; r + 4 <= r1; r += 4)
                    {
                        int o0 = odo.Offset; odo.Next();
                        int o1 = odo.Offset; odo.Next();
                        int o2 = odo.Offset; odo.Next();
                        int o3 = odo.Offset; odo.Next();
                        ReduceRows.Across4<T, TK>(a, ref ElementData.At(xs, o0), ref ElementData.At(xs, o1),
                            ref ElementData.At(xs, o2), ref ElementData.At(xs, o3), cs, p.Width);
                    }
                    for (; r < r1; r++, odo.Next())
                        ReduceRows.Across<T, TK>(a, ref ElementData.At(xs, odo.Offset), cs, p.Width);
                    for (int j = 0; j < n; j++) sink.Put(c, dBase + j * dInner, a[j]);
                }
            }
            finally
            {
                ArrayPool<T>.Shared.Return(acc);
                if (TK.UsesCenter) ArrayPool<T>.Shared.Return(cbuf);
            }
        });
    }

    private static void RunGeneric<T, TK>(ReducePlan p, T[] xs, T[]? centers, Sink<T> sink)
        where T : unmanaged, INumber<T> where TK : IReduceKernel<T>
    {
        int items = p.M * p.Chunks;
        IntraOpPool.ForRange(items, Grain(Math.Min(p.N, p.RowsPerChunk)), (s, e) =>
        {
            for (int item = s; item < e; item++)
            {
                int o = item / p.Chunks, c = item % p.Chunks;
                int xBase = p.XOffset + Odometer.OffsetOf(p.KShape, p.KxStrides, o);
                int pos = Odometer.OffsetOf(p.KShape, p.KdStrides, o);
                T center = TK.UsesCenter ? centers![pos] : default;
                int e0 = c * p.RowsPerChunk, e1 = Math.Min(p.N, e0 + p.RowsPerChunk);
                var odo = new Odometer(p.RShape, p.RxStrides, xBase, e0);
                T acc = TK.Identity;
                for (int i = e0; i < e1; i++, odo.Next()) acc = TK.Combine(acc, TK.Map(xs[odo.Offset], center));
                sink.Put(c, pos, acc);
            }
        });
    }
}
