using System.Runtime.CompilerServices;
using System.Numerics;
using Sparkle.Autograd;
using Sparkle.Sparse.Kernels;
using Sparkle.Tensors;
using Sparkle.Tensors.Cpu.Gemm;

namespace Sparkle.Sparse;

/// <summary>
/// Differentiable sparse operators (submanifold semantics; see docs/sparse.md). Inputs and outputs are dense
/// (B, C, H, W) tensors with exact zeros at masked sites; inside, only active sites are read and computed.
/// </summary>
public static partial class SparseOps
{
    /// <summary>
    /// Submanifold conv2d: an output site is computed iff it is active at the output resolution, reading only active
    /// input sites (masked inputs count as zero, whatever their value); masked outputs are exactly zero. Equal to
    /// <see cref="MaskedDense.Conv2d(Tensor, Tensor, Tensor?, int[], int[], int[], int, SparseContext)"/>. The output has the
    /// input's layout (NCHW-contiguous or channels-last).
    /// </summary>
    public static Tensor Conv2d(Tensor input, Tensor weight, Tensor? bias, int[] stride, int[] padding, int[] dilation, int groups,
        SparseContext? context = null)
    {
        const string op = "SparseConv2d";
        var ctx = context ?? SparseContext.Require(op);
        if (input.Rank != 4 || weight.Rank != 4)
            throw new ArgumentException($"{op}: expected (N, C, H, W) input and (O, C/groups, KH, KW) weight, got {ShapeUtil.Format(input.Shape)} and {ShapeUtil.Format(weight.Shape)}.");
        int n = input.Size(0), c = input.Size(1), h = input.Size(2), w = input.Size(3), o = weight.Size(0);
        if (groups < 1 || c % groups != 0 || o % groups != 0 || weight.Size(1) != c / groups)
            throw new ArgumentException($"{op}: input {ShapeUtil.Format(input.Shape)} and weight {ShapeUtil.Format(weight.Shape)} do not fit groups={groups}.");
        if (bias is not null && (bias.Rank != 1 || bias.Size(0) != o))
            throw new ArgumentException($"{op}: bias must have shape ({o}), got {ShapeUtil.Format(bias.Shape)}.");
        if (n != ctx.Mask.Batch)
            throw new ArgumentException($"{op}: input batch {n} differs from the mask's batch {ctx.Mask.Batch}.");
        if (input.DType != weight.DType || (bias is not null && bias.DType != weight.DType))
            throw new InvalidOperationException($"{op}: dtypes differ: input {input.DType.Name()}, weight {weight.DType.Name()}.");
        var (sh, sw) = Pair(stride); var (ph, pw) = Pair(padding); var (dh, dw) = Pair(dilation);
        var g = new ConvGeometry(weight.Size(2), weight.Size(3), sh, sw, ph, pw, dh, dw, h, w);
        if (DepthwisePlaneApplies(input, o, groups, g))
        {
            ctx.Mask.RepeatFactors(h, w, op);
            return input.DType switch
            {
                DType.Float32 => DepthwisePlaneT<float>(input, weight, bias, g, ctx),
                DType.Float64 => DepthwisePlaneT<double>(input, weight, bias, g, ctx),
                _ => throw new InvalidOperationException($"{op} needs float32 or float64, got {input.DType.Name()}."),
            };
        }
        var map = ctx.Neighbours(g);
        return input.DType switch
        {
            DType.Float32 => Conv2dT<float>(input, weight, bias, map, groups, ctx),
            DType.Float64 => Conv2dT<double>(input, weight, bias, map, groups, ctx),
            _ => throw new InvalidOperationException($"{op} needs float32 or float64, got {input.DType.Name()}."),
        };
    }

    internal static (int, int) Pair(int[] v) => v.Length switch
    {
        1 => (v[0], v[0]),
        2 => (v[0], v[1]),
        _ => throw new ArgumentException($"Expected 1 or 2 values, got {v.Length}."),
    };

    private static bool IsDepthwise(int c, int o, int groups) => groups == c && o == c && groups > 1;

    private static Tensor Conv2dT<T>(Tensor input, Tensor weight, Tensor? bias, NeighbourMap map, int groups, SparseContext ctx)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int cin = input.Size(1), cout = weight.Size(0), taps = map.Taps, cg = cin / groups;
        bool cl = RowIO.IsChannelsLast(input);
        if (map.IsIdentity && groups == 1 && !cl)
            return PointwiseChannelMajor<T>(input, weight, bias, map.In,
                Paths.Fallback ? null : ctx.PlaneRuns(map.In.Height, map.In.Width, System.Runtime.Intrinsics.Vector256<T>.Count));
        var wt = WeightRef<T>.Of(weight);
        T[]? bArr = bias?.ToArray<T>();
        int nIn = map.In.Count, nOut = map.Out.Count;
        bool gw = weight.RequiresGrad && Differentiable.NeedsGrad(input, weight, bias);
        // The gathered rows (plus one zero row for the implicit GEMM's masked neighbours) are kept for the weight
        // gradient until the first backward; otherwise they are scratch.
        var xr = Scratch.Rent<T>(Math.Max(1, (nIn + 1) * cin));
        var yr = Scratch.Rent<T>(Math.Max(1, nOut * cout));
        Tensor y;
        try
        {
            RowIO.Gather(input, map.In, xr);
            bool dw = IsDepthwise(cin, cout, groups);
            int[]? rows = map.IsIdentity ? null : map.Rows;
            if (dw && rows is not null)
            {
                var wT = Transpose(wt.Span, cin, taps);
                try { SparseConvKernels.Depthwise(xr, rows, taps, nOut, cin, wT, bArr, yr); }
                finally { Scratch.Return(wT); }
            }
            else
            {
                if (UseImplicitGemm(groups, rows))
                {
                    var packed = ImplicitGemm.Pack<T>(wt.Span, taps, cin, cout, (t, c, o) => (o * cin + c) * taps + t);
                    try { ImplicitGemm.Run(xr, nIn, cin, rows!, taps, nOut, packed, cout, yr, cout, null); }
                    finally { Scratch.Return(packed); }
                }
                else
                {
                    var packed = SparseConvKernels.PackForward<T>(wt.Span, cout, cg, taps, groups);
                    try { SparseConvKernels.GatherGemm(xr, cin, rows, taps, groups, nOut, packed, cout, yr); }
                    finally { Scratch.Return(packed); }
                }
                if (bArr is not null)
                    for (int r = 0; r < nOut; r++) System.Numerics.Tensors.TensorPrimitives.Add(yr.AsSpan(r * cout, cout), bArr, yr.AsSpan(r * cout, cout));
            }
            y = ScatterRows(yr, map.Out, cout, cl, ctx);
        }
        finally
        {
            Scratch.Return(yr);
            if (!gw) Scratch.Return(xr);
        }

        if (!Differentiable.NeedsGrad(input, weight, bias)) return y;
        bool gx = input.RequiresGrad, gb = bias?.RequiresGrad == true;
        int[] wShape = weight.ShapeArray();
        Tensor[] saved = [input, weight];
        Tensor? savedX = gw ? input.Detach() : null;
        var kept = new StrongBox<T[]?>(gw ? xr : null);
        return Differentiable.Record("SparseConv2d", y, [input, weight, bias],
            gy => Conv2dBackward<T>(gy, map, groups, cin, cout, cl, gx, gw, gb, savedX, kept, wt, wShape, ctx), saved);
    }

    /// <summary>Rows to a new dense tensor of the input's layout: NCHW through the column runs (every element written
    /// once, no zero fill), channels-last as row copies into a zero tensor.</summary>
    private static Tensor ScatterRows<T>(T[] rows, ActiveSites sites, int c, bool cl, SparseContext ctx) where T : unmanaged
        => cl || Paths.Fallback ? RowIO.Scatter(rows, sites, c, cl)
            : RowIO.ScatterNchw(rows, ctx.PlaneRuns(sites.Height, sites.Width, System.Runtime.Intrinsics.Vector256<float>.Count), c, DTypes.Of<T>());

    /// <summary>The implicit GEMM (no im2col) serves ungrouped convolutions through a neighbour map.</summary>
    private static bool UseImplicitGemm(int groups, int[]? map) => groups == 1 && map is not null && !Paths.Fallback;

    private static Tensor?[] Conv2dBackward<T>(Tensor gy, NeighbourMap map, int groups, int cin, int cout, bool cl, bool gx, bool gw, bool gb,
        Tensor? savedX, StrongBox<T[]?> kept, WeightRef<T> wt, int[] wShape, SparseContext ctx) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int nIn = map.In.Count, nOut = map.Out.Count, taps = map.Taps, cg = cin / groups;
        bool dwConv = IsDepthwise(cin, cout, groups);
        int[]? rows = map.IsIdentity ? null : map.Rows;
        var dyr = Scratch.Rent<T>(Math.Max(1, (nOut + 1) * cout));
        Tensor? dx = null, dwt = null, db = null;
        try
        {
            RowIO.Gather(gy, map.Out, dyr);
            if (gx)
            {
                var dxr = Scratch.Rent<T>(Math.Max(1, nIn * cin));
                try
                {
                    int[]? inv = map.IsIdentity ? null : map.Inverse;
                    var packed = dwConv && inv is not null ? Transpose(wt.Span, cin, taps)
                        : UseImplicitGemm(groups, inv) ? ImplicitGemm.Pack<T>(wt.Span, taps, cout, cin, (t, o, c) => (o * cin + c) * taps + t)
                        : SparseConvKernels.PackBackward<T>(wt.Span, cout, cg, taps, groups);
                    try
                    {
                        if (dwConv && inv is not null) SparseConvKernels.Depthwise(dyr, inv, taps, nIn, cin, packed, null, dxr);
                        else if (UseImplicitGemm(groups, inv)) ImplicitGemm.Run(dyr, nOut, cout, inv!, taps, nIn, packed, cin, dxr, cin, null);
                        else SparseConvKernels.GatherGemm(dyr, cout, inv, taps, groups, nIn, packed, cin, dxr);
                    }
                    finally { Scratch.Return(packed); }
                    dx = ScatterRows(dxr, map.In, cin, cl, ctx);
                }
                finally { Scratch.Return(dxr); }
            }
            if (gw)
            {
                bool fresh = kept.Value is null;
                var xr = kept.Value ?? Scratch.Rent<T>(Math.Max(1, (nIn + 1) * cin));
                kept.Value = null;
                try
                {
                if (fresh) RowIO.Gather(savedX!, map.In, xr);
                // Written straight into the gradient tensor (from the TensorPool); the packed-layout sums are scratch.
                dwt = Tensor.Empty(wShape, DTypes.Of<T>());
                var dwArr = RowIO.Data<T>(dwt).AsSpan(dwt.Offset, cout * cg * taps);
                var dwp = dwConv && rows is not null ? SparseConvKernels.DepthwiseWeightGrad(xr, rows, taps, nOut, cin, dyr)
                    : SparseConvKernels.WeightGrad(xr, cin, rows, taps, groups, nOut, dyr, cout);
                try
                {
                    if (dwConv && rows is not null)
                        for (int c = 0; c < cin; c++)
                            for (int t = 0; t < taps; t++) dwArr[c * taps + t] = dwp[t * cin + c];
                    else SparseConvKernels.UnpackForward<T>(dwp, cout, cg, taps, groups, dwArr);
                }
                finally { Scratch.Return(dwp); }
                }
                finally { Scratch.Return(xr); }
            }
            if (gb) db = Tensor.FromArray(SparseConvKernels.ColumnSums(dyr, nOut, cout), [cout]);
        }
        finally { Scratch.Return(dyr); }
        return [dx, dwt, db];
    }

    /// <summary>
    /// 1x1 stride-1 conv of an NCHW input in channel-major rows (C, N): Yᵀ = W · Xᵀ, so gathering and scattering read
    /// and write one channel plane at a time and need no transpose; dXᵀ = Wᵀ · dYᵀ, dW = dYᵀ · X.
    /// </summary>
    private static Tensor PointwiseChannelMajor<T>(Tensor input, Tensor weight, Tensor? bias, ActiveSites sites, PlaneRuns? runs)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = sites.Count, cin = input.Size(1), cout = weight.Size(0);
        var wt = WeightRef<T>.Of(weight); // (cout, cin)
        T[]? bArr = bias?.ToArray<T>();
        void Gather(Tensor t, T[] dst)
        {
            if (runs is not null && RowIO.RunsApply(t)) RowIO.GatherChannelMajor(t, runs, n, dst);
            else RowIO.GatherChannelMajor(t, sites, dst);
        }
        Tensor Scatter(T[] src, int c) => runs is not null
            ? RowIO.ScatterChannelMajor(src, runs, n, c, input.DType) : RowIO.ScatterChannelMajor(src, sites, c);
        bool gw = weight.RequiresGrad && Differentiable.NeedsGrad(input, weight, bias);
        var xt = Scratch.Rent<T>(Math.Max(1, cin * n));
        var yt = Scratch.Rent<T>(Math.Max(1, cout * n));
        Tensor y;
        try
        {
            Gather(input, xt);
            Blas.Gemm(cout, n, cin, new StridedMatrix<T>(wt.Data, wt.Offset, cin, 1), new StridedMatrix<T>(xt, 0, n, 1), yt, 0, n, accumulate: false);
            if (bArr is not null)
                for (int o = 0; o < cout; o++) System.Numerics.Tensors.TensorPrimitives.Add(yt.AsSpan(o * n, n), bArr[o], yt.AsSpan(o * n, n));
            y = Scatter(yt, cout);
        }
        finally
        {
            if (!gw) Scratch.Return(xt);
            Scratch.Return(yt);
        }
        if (!Differentiable.NeedsGrad(input, weight, bias)) return y;
        bool gx = input.RequiresGrad, gb = bias?.RequiresGrad == true;
        int[] wShape = weight.ShapeArray();
        Tensor? savedX = gw ? input.Detach() : null;
        // The weight gradient reads the forward's gathered rows (kept until the first backward, then pooled again;
        // a second backward gathers them anew from the saved input).
        T[]? keptX = gw ? xt : null;
        return Differentiable.Record("SparseConv2d", y, [input, weight, bias], gy =>
        {
            var dyt = Scratch.Rent<T>(Math.Max(1, cout * n));
            try
            {
                Gather(gy, dyt);
                Tensor? dx = null, dw = null, db = null;
                if (gx)
                {
                    var dxt = Scratch.Rent<T>(Math.Max(1, cin * n));
                    try
                    {
                        Blas.Gemm(cin, n, cout, new StridedMatrix<T>(wt.Data, wt.Offset, 1, cin), new StridedMatrix<T>(dyt, 0, n, 1), dxt, 0, n, accumulate: false);
                        dx = Scatter(dxt, cin);
                    }
                    finally { Scratch.Return(dxt); }
                }
                if (gw)
                {
                    bool fresh = keptX is null;
                    var xt2 = keptX ?? Scratch.Rent<T>(Math.Max(1, cin * n));
                    keptX = null;
                    try
                    {
                        if (fresh) Gather(savedX!, xt2);
                        dw = Tensor.Empty(wShape, DTypes.Of<T>());   // written in place (from the TensorPool)
                        Blas.Gemm(cout, cin, n, new StridedMatrix<T>(dyt, 0, n, 1), new StridedMatrix<T>(xt2, 0, 1, n),
                            RowIO.Data<T>(dw), dw.Offset, cin, accumulate: false);
                    }
                    finally { Scratch.Return(xt2); }
                }
                if (gb)
                {
                    var s = new T[cout];
                    for (int o = 0; o < cout; o++) s[o] = System.Numerics.Tensors.TensorPrimitives.Sum<T>(dyt.AsSpan(o * n, n));
                    db = Tensor.FromArray(s, [cout]);
                }
                return [dx, dw, db];
            }
            finally { Scratch.Return(dyt); }
        }, input, weight);
    }

    /// <summary>(C, taps) -> (taps, C), in a rented array the caller returns.</summary>
    private static T[] Transpose<T>(ReadOnlySpan<T> w, int c, int taps) where T : unmanaged
    {
        var r = Scratch.Rent<T>(c * taps);
        for (int i = 0; i < c; i++)
            for (int t = 0; t < taps; t++) r[t * c + i] = w[i * taps + t];
        return r;
    }
}
