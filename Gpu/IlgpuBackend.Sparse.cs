using System.Collections.Concurrent;
using System.Reflection;
using ILGPU;
using ILGPU.Runtime;
using Sparkle.Gpu.Kernels;
using Sparkle.Tensors;
using Sparkle.Tensors.Backend;

namespace Sparkle.Gpu;

/// <summary>
/// SparK's active-site kernels (IBackend.Sparse.cs) on the device, with no host reads and no host loops over sites: the
/// index tensors are already on the device. A submanifold convolution is gather (1 launch) -> rows convolution through the
/// neighbour map (1) -> scatter (1); its backward gathers dy (1), runs the input gradient through the inverse map and
/// scatters it (2), and the weight/bias gradient as split partials plus a combining pass (2, +1 when the forward did not
/// keep its gathered rows). Kernel choice: depthwise and narrow groups (fewer than <see cref="SparseTiledMinWidth"/> outputs
/// per group) run one thread per output; wider groups the shared-memory tiled kernels (<see cref="SparseTiledKernels"/>).
/// All sums run in a fixed order (no atomics), so results are reproducible.
/// </summary>
public sealed partial class IlgpuBackend
{
    private readonly ConcurrentDictionary<MethodInfo, Delegate> _sparseGrouped = new();

    /// <summary>Outputs per group from which the rows convolution and the weight gradient use the tiled kernels (default 16;
    /// int.MaxValue: never, 1: always — the tests run both paths).</summary>
    public int SparseTiledMinWidth { get; set; } = 16;

    /// <summary>Rows per partial sum of the weight gradient (default 256): more partials fill the device when the output
    /// (taps·C x O) is small and the row count large.</summary>
    public int SparseWeightChunk { get; set; } = 256;

    /// <summary>Kernel launches made by the sparse methods so far (tests check the count per call).</summary>
    public long SparseLaunches { get; private set; }

    public void SparseGather(Tensor x, SparseSites sites, Tensor rows)
    {
        CheckMap("SparseGather", x, sites);
        if (rows.DType != x.DType || rows.Rank != 2 || rows.Size(0) != sites.Count || rows.Size(1) != x.Size(1) || !rows.IsContiguous)
            throw new ArgumentException($"SparseGather: rows must be contiguous {x.DType.Name()} ({sites.Count}, {x.Size(1)}), got {rows.DType.Name()} {ShapeUtil.Format(rows.Shape)} (x {ShapeUtil.Format(x.Shape)}).");
        switch (x.DType)
        {
            case DType.Float32: GatherRows<float>(x, sites, rows); break;
            case DType.Float64: GatherRows<double>(x, sites, rows); break;
            case DType.Int32: GatherRows<int>(x, sites, rows); break;
            case DType.Int64: GatherRows<long>(x, sites, rows); break;
            case DType.Bool: GatherRows<byte>(x, sites, rows); break;
        }
    }

    public Tensor SparseScatter(Tensor rows, SparseSites sites, bool channelsLast)
    {
        if (rows.Rank != 2 || rows.Size(0) != sites.Count)
            throw new ArgumentException($"SparseScatter: rows must be ({sites.Count}, C), got {ShapeUtil.Format(rows.Shape)}.");
        var (r, own) = Contiguous(rows);
        var dst = rows.DType switch
        {
            DType.Float32 => ScatterRows<float>(r, sites, channelsLast),
            DType.Float64 => ScatterRows<double>(r, sites, channelsLast),
            DType.Int32 => ScatterRows<int>(r, sites, channelsLast),
            DType.Int64 => ScatterRows<long>(r, sites, channelsLast),
            _ => ScatterRows<byte>(r, sites, channelsLast),
        };
        if (own) Free(r);
        return dst;
    }

    public (Tensor Output, object? Kept) SparseConv2dForward(Tensor input, Tensor weight, Tensor? bias, SparseConvMap map, int groups, bool keepForWeightGrad,
        SparseConvOptions options)
    {
        const string op = "SparseConv2dForward";
        CheckMap(op, input, map.In);
        CheckConv(op, input.DType, input.Size(1), weight, bias, map, groups);
        int c = input.Size(1), o = weight.Size(0), taps = map.Taps, cg = c / groups, og = o / groups;
        var xrows = NewRows(map.In.Count, c, input.DType);
        SparseGather(input, map.In, xrows);
        var yrows = NewRows(map.Out.Count, o, input.DType);
        var (w, ownW) = Contiguous(weight);
        var (b, ownB) = bias is null ? (null, false) : Contiguous(bias);
        var a = new SparseRowsArgs
        {
            M = map.Out.Count, Taps = taps, Identity = map.IsIdentity ? 1 : 0, MapOff = map.IsIdentity ? 0 : map.Rows.Offset,
            SrcC = c, DstC = o, KC = cg, NG = og,
            WGroup = og * cg * taps, WK = taps, WN = cg * taps, WT = 1, WOff = w.Offset,
            HasBias = b is null ? 0 : 1, BOff = b?.Offset ?? 0,
        };
        RowsConv(xrows, map.IsIdentity ? map.In.Sites : map.Rows, w, b, yrows, a, groups);
        var y = SparseScatter(yrows, map.Out, IsChannelsLast(input));
        Free(yrows);
        if (ownW) Free(w);
        if (ownB) Free(b!);
        if (!keepForWeightGrad) { Free(xrows); return (y, null); }
        return (y, xrows);
    }

    public (Tensor? GradInput, Tensor? GradWeight, Tensor? GradBias) SparseConv2dBackward(Tensor gradOutput, Tensor? input, object? kept,
        Tensor weight, SparseConvMap map, int groups, bool needInput, bool needWeight, bool needBias, SparseConvOptions options)
    {
        const string op = "SparseConv2dBackward";
        CheckMap(op, gradOutput, map.Out);
        int o = weight.Size(0), c = weight.Size(1) * groups, taps = map.Taps, cg = c / groups, og = o / groups;
        CheckConv(op, gradOutput.DType, c, weight, null, map, groups);
        if (gradOutput.Size(1) != o)
            throw new ArgumentException($"{op}: gradOutput {ShapeUtil.Format(gradOutput.Shape)} must have the weight's {o} output channels (weight {ShapeUtil.Format(weight.Shape)}).");
        var keptRows = kept as Tensor;
        if (kept is not null && (keptRows is null || keptRows.Rank != 2 || keptRows.Size(0) != map.In.Count || keptRows.Size(1) != c || keptRows.DType != gradOutput.DType))
            throw new ArgumentException($"{op}: kept must be the forward's gathered input rows ({map.In.Count}, {c}), got {kept.GetType().Name}.");
        if (needWeight && keptRows is null && input is null)
            throw new ArgumentException($"{op}: the weight gradient needs the input or the forward's kept rows; both are null.");
        var dyrows = NewRows(map.Out.Count, o, gradOutput.DType);
        SparseGather(gradOutput, map.Out, dyrows);
        Tensor? gradInput = null, gradWeight = null, gradBias = null;
        var (w, ownW) = Contiguous(weight);
        if (needInput)
        {
            var dxrows = NewRows(map.In.Count, c, gradOutput.DType);
            var a = new SparseRowsArgs
            {
                M = map.In.Count, Taps = taps, Identity = map.IsIdentity ? 1 : 0, MapOff = map.IsIdentity ? 0 : map.Inverse.Offset,
                SrcC = o, DstC = c, KC = og, NG = cg,
                WGroup = og * cg * taps, WK = cg * taps, WN = taps, WT = 1, WOff = w.Offset,
            };
            RowsConv(dyrows, map.IsIdentity ? map.In.Sites : map.Inverse, w, null, dxrows, a, groups);
            gradInput = SparseScatter(dxrows, map.In, IsChannelsLast(gradOutput));
            Free(dxrows);
        }
        if (ownW) Free(w);
        Tensor? xrows = null;
        if (needWeight)
        {
            if (keptRows is not null) xrows = keptRows;
            else
            {
                CheckMap(op, input!, map.In);
                if (input!.Size(1) != c || input.DType != gradOutput.DType)
                    throw new ArgumentException($"{op}: input {input.DType.Name()} {ShapeUtil.Format(input.Shape)} must have {c} channels and gradOutput's dtype {gradOutput.DType.Name()} (weight {ShapeUtil.Format(weight.Shape)}, groups={groups}).");
                xrows = NewRows(map.In.Count, c, gradOutput.DType);
                SparseGather(input!, map.In, xrows);
            }
        }
        if (needWeight || needBias)
            (gradWeight, gradBias) = gradOutput.DType == DType.Float32
                ? WeightGrad<float, F32>(xrows, dyrows, map, weight, groups, needWeight, needBias)
                : WeightGrad<double, F64>(xrows, dyrows, map, weight, groups, needWeight, needBias);
        if (xrows is not null) Free(xrows);
        else if (keptRows is not null) Free(keptRows);                 // given back once: recycle it now
        Free(dyrows);
        return (gradInput, gradWeight, gradBias);
    }

    // ---- launches ----

    private void GatherRows<T>(Tensor x, SparseSites s, Tensor rows) where T : unmanaged
    {
        var a = MapArgs(x, s);
        a.RowsOff = rows.Offset;
        var xv = View<T>(x);
        var sv = View<int>(s.Sites);
        var rv = View<T>(rows);
        int channelMajor = x.Stride(1) == 1 && x.Size(1) > 1 ? 0 : 1;
        SparseLaunch(s.Count * x.Size(1), i => _kernels.Get<ArrayView1D<T, Stride1D.Dense>, ArrayView1D<int, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, SparseMapArgs, int>(
            SparseKernels.Gather<T>)(i, xv, sv, rv, a, channelMajor), Profile is null ? "" : $"x {ShapeUtil.Format(x.Shape)} rows {s.Count}", "SparseGather");
    }

    private Tensor ScatterRows<T>(Tensor rows, SparseSites s, bool channelsLast) where T : unmanaged
    {
        int c = rows.Size(1), h = s.Height, w = s.Width;
        int[] strides = channelsLast ? [h * w * c, 1, w * c, c] : [c * h * w, h * w, w, 1];
        var dst = new Tensor(Allocate(rows.DType, s.Batch * c * h * w, zeroed: false), 0, [s.Batch, c, h, w], strides);
        var a = new SparseMapArgs { C = c, H = h, W = w, Count = s.Count, RowOfOff = s.RowOf.Offset, RowsOff = rows.Offset };
        var rv = View<T>(rows);
        var ov = View<int>(s.RowOf);
        var dv = View<T>(dst);
        int cl = channelsLast ? 1 : 0;
        SparseLaunch(dst.NumElements, i => _kernels.Get<ArrayView1D<T, Stride1D.Dense>, ArrayView1D<int, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, SparseMapArgs, int>(
            SparseKernels.Scatter<T>)(i, rv, ov, dv, a, cl), Profile is null ? "" : $"dst {ShapeUtil.Format(dst.Shape)} rows {s.Count} cl={channelsLast}", "SparseScatter");
        return dst;
    }

    private void RowsConv(Tensor src, Tensor map, Tensor w, Tensor? bias, Tensor dst, SparseRowsArgs a, int groups)
    {
        if (src.DType == DType.Float32) RowsConvTyped<float, F32>(src, map, w, bias, dst, a, groups);
        else RowsConvTyped<double, F64>(src, map, w, bias, dst, a, groups);
    }

    private void RowsConvTyped<T, TE>(Tensor src, Tensor map, Tensor w, Tensor? bias, Tensor dst, SparseRowsArgs a, int groups)
        where T : unmanaged where TE : struct, IElement<T>
    {
        var sv = View<T>(src);
        var mv = View<int>(map);
        var wv = View<T>(w);
        var bv = bias is null ? wv : View<T>(bias);        // never read without a bias (HasBias = 0)
        var dv = View<T>(dst);
        string detail = Profile is null ? "" : $"M={a.M} groups={groups} NG={a.NG} K={a.Taps}x{a.KC}";
        if (a.NG >= SparseTiledMinWidth && a.M > 0)
        {
            var (tx, ty) = GemmGroup();
            int gx = (a.NG + 4 * tx - 1) / (4 * tx), gy = (a.M + 4 * ty - 1) / (4 * ty);
            if (gy <= 65535 && groups <= 65535)
            {
                var kernel = (Action<KernelConfig, ArrayView1D<T, Stride1D.Dense>, ArrayView1D<int, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>,
                    ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, SparseRowsArgs, int, int>)
                    _sparseGrouped.GetOrAdd(((Delegate)SparseTiledKernels.RowsConv<T, TE>).Method, _ => _accelerator.LoadStreamKernel<ArrayView1D<T, Stride1D.Dense>,
                        ArrayView1D<int, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, SparseRowsArgs, int, int>(
                        SparseTiledKernels.RowsConv<T, TE>));
                lock (_gate)
                {
                    SparseLaunches++;
                    Timed("SparseConv(tiled)", (long)gx * gy * groups * tx * ty, detail,
                        () => kernel(new KernelConfig(new Index3D(gx, gy, groups), new Index3D(tx * ty, 1, 1)), sv, mv, wv, bv, dv, a, tx, ty));
                }
                return;
            }
        }
        SparseLaunch(a.M * a.DstC, i => _kernels.Get<ArrayView1D<T, Stride1D.Dense>, ArrayView1D<int, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>,
            ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, SparseRowsArgs>(SparseKernels.RowsConv<T, TE>)(i, sv, mv, wv, bv, dv, a), detail, "SparseConv");
    }

    private (Tensor? Weight, Tensor? Bias) WeightGrad<T, TE>(Tensor? xrows, Tensor dyrows, SparseConvMap map, Tensor weight, int groups, bool needW, bool needB)
        where T : unmanaged where TE : struct, IElement<T>
    {
        int rows = map.Out.Count, taps = map.Taps, o = weight.Size(0), cg = weight.Size(1), c = cg * groups, og = o / groups;
        var dt = dyrows.DType;
        var dw = needW ? new Tensor(Allocate(dt, o * cg * taps, zeroed: false), 0, weight.ShapeArray(), ShapeUtil.ContiguousStrides(weight.Shape)) : null;
        var db = needB ? new Tensor(Allocate(dt, o, zeroed: false), 0, [o], [1]) : null;
        var (tx, ty) = GemmGroup();
        int mRows = taps * cg + (needB ? 1 : 0);
        int gx = (og + 4 * tx - 1) / (4 * tx), gy = (mRows + 4 * ty - 1) / (4 * ty);
        bool tiled = needW && og >= SparseTiledMinWidth && gy <= 65535 && groups <= 65535;
        int outputs = tiled ? groups * mRows * og : (needW ? o * cg * taps : 0) + (needB ? o : 0);
        // At most 16M partial elements (64 MB in float32) and a grid z within 65,535: big maps get longer chunks instead.
        int maxParts = Math.Max(1, (1 << 24) / outputs);
        if (tiled) maxParts = Math.Min(maxParts, 65535 / groups);
        int chunk = Math.Max(1, SparseWeightChunk);
        if ((rows + chunk - 1) / chunk > maxParts) chunk = (rows + maxParts - 1) / maxParts;
        int parts = Math.Max(1, (rows + chunk - 1) / chunk);
        var a = new SparseWeightArgs
        {
            Rows = rows, Taps = taps, Identity = map.IsIdentity ? 1 : 0, MapOff = map.IsIdentity ? 0 : map.Rows.Offset,
            C = c, XOff = xrows?.Offset ?? 0, O = o, DyOff = dyrows.Offset, Cg = cg, Og = og, Groups = groups,
            NeedW = needW ? 1 : 0, NeedB = needB ? 1 : 0, Chunk = chunk, Parts = parts,
        };
        var xv = View<T>(xrows ?? dyrows);                   // never read without the weight gradient (NeedW = 0)
        var mv = View<int>(map.IsIdentity ? map.In.Sites : map.Rows);
        var dyv = View<T>(dyrows);
        string detail = Profile is null ? "" : $"rows={rows} parts={parts} groups={groups} {taps}x{cg}x{og}";
        Tensor partial;
        if (tiled)
        {
            a.Tiled = 1;
            a.MRows = mRows;
            partial = NewRows(parts, outputs, dt);
            var pv = View<T>(partial);
            var kernel = (Action<KernelConfig, ArrayView1D<T, Stride1D.Dense>, ArrayView1D<int, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>,
                ArrayView1D<T, Stride1D.Dense>, SparseWeightArgs, int, int>)
                _sparseGrouped.GetOrAdd(((Delegate)SparseTiledKernels.WeightPartial<T, TE>).Method, _ => _accelerator.LoadStreamKernel<ArrayView1D<T, Stride1D.Dense>,
                    ArrayView1D<int, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, SparseWeightArgs, int, int>(
                    SparseTiledKernels.WeightPartial<T, TE>));
            lock (_gate)
            {
                SparseLaunches++;
                Timed("SparseConvWeight(tiled)", (long)gx * gy * groups * parts * tx * ty, detail,
                    () => kernel(new KernelConfig(new Index3D(gx, gy, groups * parts), new Index3D(tx * ty, 1, 1)), xv, mv, dyv, pv, a, tx, ty));
            }
        }
        else
        {
            partial = NewRows(parts, outputs, dt);
            var pv = View<T>(partial);
            SparseLaunch(parts * outputs, i => _kernels.Get<ArrayView1D<T, Stride1D.Dense>, ArrayView1D<int, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>,
                ArrayView1D<T, Stride1D.Dense>, SparseWeightArgs>(SparseKernels.WeightPartial<T, TE>)(i, xv, mv, dyv, pv, a), detail, "SparseConvWeight");
        }
        var partialView = View<T>(partial);
        var dwv = dw is null ? partialView : View<T>(dw);     // never written without the weight gradient
        var dbv = db is null ? partialView : View<T>(db);     // never written without the bias gradient
        SparseLaunch(outputs, i => _kernels.Get<ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, SparseWeightArgs>(
            SparseKernels.WeightCombine<T, TE>)(i, partialView, dwv, dbv, a), detail, "SparseConvWeight(combine)");
        Free(partial);
        return (dw, db);
    }

    // ---- helpers ----

    private void SparseLaunch(int n, Action<Index1D> launch, string detail, string op)
    {
        if (n == 0) return;
        lock (_gate) SparseLaunches++;
        Launch(n, launch, detail, op);
    }

    /// <summary>Same test as Sparse/Kernels/RowIO.IsChannelsLast: NHWC strides (channels innermost) on a map with C > 1.</summary>
    private static bool IsChannelsLast(Tensor t) => t.IsChannelsLast;

    private Tensor NewRows(int count, int width, DType dtype) => new(Allocate(dtype, count * width, zeroed: false), 0, [count, width], [width, 1]);

    /// <summary>t itself when contiguous, else a contiguous device copy the caller frees (true).</summary>
    private (Tensor T, bool Owned) Contiguous(Tensor t)
    {
        if (t.IsContiguous) return (t, false);
        var c = new Tensor(Allocate(t.DType, t.NumElements, zeroed: false), 0, t.ShapeArray(), ShapeUtil.ContiguousStrides(t.Shape));
        Copy(t, c);
        return (c, true);
    }

    /// <summary>Gives a temporary's device block back now (docs/gpu.md "Memory": safe while queued kernels still read it).</summary>
    private static void Free(Tensor t) => (t.Storage as IDisposable)?.Dispose();

    private static SparseMapArgs MapArgs(Tensor x, SparseSites s) => new()
    {
        C = x.Size(1), H = s.Height, W = s.Width, Off = x.Offset,
        SN = x.Stride(0), SC = x.Stride(1), SH = x.Stride(2), SW = x.Stride(3),
        Count = s.Count, SitesOff = s.Sites.Offset, RowOfOff = s.RowOf.Offset,
    };

    private void CheckMap(string op, Tensor x, SparseSites s)
    {
        if (x.Rank != 4 || x.Size(0) != s.Batch || x.Size(2) != s.Height || x.Size(3) != s.Width)
            throw new ArgumentException($"{op}: expected an (N={s.Batch}, C, H={s.Height}, W={s.Width}) map for these sites, got {ShapeUtil.Format(x.Shape)}.");
        if (x.Device != Device || s.Device != Device)
            throw new ArgumentException($"{op}: the map is on {x.Device}, the sites on {s.Device}; this backend is {Device}.");
    }

    private static void CheckConv(string op, DType dtype, int c, Tensor weight, Tensor? bias, SparseConvMap map, int groups)
    {
        if (dtype is not (DType.Float32 or DType.Float64) || weight.DType != dtype || (bias is not null && bias.DType != dtype))
            throw new NotSupportedException($"{op}: float32 or float64 operands of one dtype expected, got {dtype.Name()} and weight {weight.DType.Name()}{(bias is null ? "" : $", bias {bias.DType.Name()}")}.");
        int o = weight.Rank == 4 ? weight.Size(0) : -1;
        if (weight.Rank != 4 || groups < 1 || c % groups != 0 || o % groups != 0 || weight.Size(1) != c / groups
            || weight.Size(2) != map.KernelH || weight.Size(3) != map.KernelW)
            throw new ArgumentException($"{op}: weight {ShapeUtil.Format(weight.Shape)} does not fit {c} input channels, groups={groups} and a {map.KernelH}x{map.KernelW} map.");
        if (map.IsIdentity && map.In.Count != map.Out.Count)
            throw new ArgumentException($"{op}: a 1x1 stride-1 map reads output row r from input row r, but the input has {map.In.Count} active sites and the output {map.Out.Count}.");
        if (bias is not null && (bias.Rank != 1 || bias.Size(0) != o))
            throw new ArgumentException($"{op}: bias {ShapeUtil.Format(bias.Shape)} must be ({o}) for weight {ShapeUtil.Format(weight.Shape)}.");
    }
}
