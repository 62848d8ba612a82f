using System.Numerics;
using System.Runtime.Intrinsics;
using Sparkle.Tensors.Backend;
using Sparkle.Tensors.Cpu.Gemm;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace Sparkle.Tensors.Cpu.Sparse;

/// <summary>
/// The CPU backend's submanifold convolution (docs/sparse.md): which kernel serves a call is decided here, from the
/// geometry, the groups and the input's layout (<see cref="Choose"/>):
/// <list type="bullet">
/// <item><see cref="SparseConvPath.DepthwisePlanes"/>: depthwise, stride 1, "same", channels-first with unit W stride —
///   straight on the dense planes through the column runs (no rows, no map);</item>
/// <item><see cref="SparseConvPath.PointwiseChannelMajor"/>: 1x1 stride 1, ungrouped, channels-first — channel-major
///   rows (C, N), one GEMM, no transposes;</item>
/// <item><see cref="SparseConvPath.Rows"/>: everything else — gather rows, then the implicit GEMM through the
///   neighbour map (ungrouped), the depthwise row kernel, or gather-GEMM per group; scatter.</item>
/// </list>
/// <see cref="SparseConvOptions.RowsOnly"/> forces the rows path (tests cover every path on every shape).
/// </summary>
internal static class SparseConvCpu
{
    public static SparseConvPath Choose(Tensor input, int cout, int groups, SparseConvMap map, SparseConvOptions options)
    {
        int cin = input.Size(1);
        if (options.RowsOnly) return SparseConvPath.Rows;
        if (IsDepthwise(cin, cout, groups) && map.IsSame && input.Stride(3) == 1 && !RowIO.IsChannelsLast(input))
            return SparseConvPath.DepthwisePlanes;
        if (map.IsIdentity && groups == 1 && !RowIO.IsChannelsLast(input)) return SparseConvPath.PointwiseChannelMajor;
        return SparseConvPath.Rows;
    }

    public static (Tensor, object?) Forward(Tensor input, Tensor weight, Tensor? bias, SparseConvMap map, int groups, bool keep, SparseConvOptions options)
        => input.DType switch
        {
            DType.Float32 => Forward<float>(input, weight, bias, map, groups, keep, options),
            DType.Float64 => Forward<double>(input, weight, bias, map, groups, keep, options),
            _ => throw new InvalidOperationException($"SparseConv2d needs float32 or float64, got {input.DType.Name()}."),
        };

    public static (Tensor?, Tensor?, Tensor?) Backward(Tensor gy, Tensor? input, object? kept, Tensor weight, SparseConvMap map, int groups,
        bool gx, bool gw, bool gb, SparseConvOptions options)
        => gy.DType switch
        {
            DType.Float32 => Backward<float>(gy, input, kept, weight, map, groups, gx, gw, gb, options),
            DType.Float64 => Backward<double>(gy, input, kept, weight, map, groups, gx, gw, gb, options),
            _ => throw new InvalidOperationException($"SparseConv2d needs float32 or float64, got {gy.DType.Name()}."),
        };

    private static bool IsDepthwise(int c, int o, int groups) => groups == c && o == c && groups > 1;

    /// <summary>What the forward hands its backward: the kernel it chose and the input's layout (the backward runs the
    /// same path and gives the input gradient that layout), and the gathered input rows (rows layout, or channel-major
    /// for the pointwise path) kept for the weight gradient until the first backward takes them (a second backward
    /// gathers anew from the input).</summary>
    private sealed class State(SparseConvPath path, bool channelsLast, object? rows)
    {
        private object? _rows = rows;
        public SparseConvPath Path { get; } = path;
        public bool ChannelsLast { get; } = channelsLast;
        public T[]? Take<T>() => Interlocked.Exchange(ref _rows, null) as T[];
    }

    private static (Tensor, object?) Forward<T>(Tensor input, Tensor weight, Tensor? bias, SparseConvMap map, int groups, bool keep, SparseConvOptions options)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int cout = weight.Size(0);
        bool cl = RowIO.IsChannelsLast(input);
        var path = Choose(input, cout, groups, map, options);
        switch (path)
        {
            case SparseConvPath.DepthwisePlanes: return (DepthwisePlanesForward<T>(input, weight, bias, map), new State(path, cl, null));
            case SparseConvPath.PointwiseChannelMajor:
                var (yp, xt) = PointwiseForward<T>(input, weight, bias, map.In, keep);
                return (yp, new State(path, cl, xt));
        }
        int cin = input.Size(1), taps = map.Taps, cg = cin / groups;
        var wt = WeightRef<T>.Of(weight);
        T[]? bArr = bias?.ToArray<T>();
        int nIn = map.In.Count, nOut = map.Out.Count;
        // The gathered rows (plus one zero row for the implicit GEMM's masked neighbours) are kept for the weight
        // gradient until the first backward; otherwise they are scratch.
        var xr = Scratch.Rent<T>(Math.Max(1, (nIn + 1) * cin));
        var yr = Scratch.Rent<T>(Math.Max(1, nOut * cout));
        Tensor y;
        try
        {
            RowIO.Gather(input, map.In, xr);
            int[]? rows = map.IsIdentity ? null : RowIO.Data<int>(map.Rows);
            if (IsDepthwise(cin, cout, groups) && rows is not null)
            {
                var wT = Transpose(wt.Span, cin, taps);
                try { SparseConvKernels.Depthwise(xr, rows, taps, nOut, cin, wT, bArr, yr); }
                finally { Scratch.Return(wT); }
            }
            else
            {
                if (UseImplicitGemm(groups, rows, options))
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
                    for (int r = 0; r < nOut; r++) TensorPrimitives.Add(yr.AsSpan(r * cout, cout), bArr, yr.AsSpan(r * cout, cout));
            }
            y = ScatterRows(yr, map.Out, cout, cl, options);
        }
        finally
        {
            Scratch.Return(yr);
            if (!keep) Scratch.Return(xr);
        }
        return (y, new State(path, cl, keep ? xr : null));
    }

    private static (Tensor?, Tensor?, Tensor?) Backward<T>(Tensor gy, Tensor? input, object? kept, Tensor weight, SparseConvMap map, int groups,
        bool gx, bool gw, bool gb, SparseConvOptions options) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int cin = weight.Size(1) * groups, cout = weight.Size(0);
        var state = kept as State ?? throw new ArgumentException("SparseConv2dBackward: pass the state the CPU forward returned.", nameof(kept));
        switch (state.Path)
        {
            case SparseConvPath.DepthwisePlanes: return DepthwisePlanesBackward<T>(gy, input, weight, map, gx, gw, gb);
            case SparseConvPath.PointwiseChannelMajor: return PointwiseBackward<T>(gy, input, state.Take<T>(), weight, map.In, gx, gw, gb);
        }
        int nIn = map.In.Count, nOut = map.Out.Count, taps = map.Taps, cg = cin / groups;
        bool cl = state.ChannelsLast, dwConv = IsDepthwise(cin, cout, groups);
        int[]? rows = map.IsIdentity ? null : RowIO.Data<int>(map.Rows);
        var wt = WeightRef<T>.Of(weight);
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
                    int[]? inv = map.IsIdentity ? null : RowIO.Data<int>(map.Inverse);
                    var packed = dwConv && inv is not null ? Transpose(wt.Span, cin, taps)
                        : UseImplicitGemm(groups, inv, options) ? ImplicitGemm.Pack<T>(wt.Span, taps, cout, cin, (t, o, c) => (o * cin + c) * taps + t)
                        : SparseConvKernels.PackBackward<T>(wt.Span, cout, cg, taps, groups);
                    try
                    {
                        if (dwConv && inv is not null) SparseConvKernels.Depthwise(dyr, inv, taps, nIn, cin, packed, null, dxr);
                        else if (UseImplicitGemm(groups, inv, options)) ImplicitGemm.Run(dyr, nOut, cout, inv!, taps, nIn, packed, cin, dxr, cin, null);
                        else SparseConvKernels.GatherGemm(dyr, cout, inv, taps, groups, nIn, packed, cin, dxr);
                    }
                    finally { Scratch.Return(packed); }
                    dx = ScatterRows(dxr, map.In, cin, cl, options);
                }
                finally { Scratch.Return(dxr); }
            }
            if (gw)
            {
                var xr = state.Take<T>();
                bool fresh = xr is null;
                xr ??= Scratch.Rent<T>(Math.Max(1, (nIn + 1) * cin));
                try
                {
                    if (fresh) RowIO.Gather(input ?? throw new ArgumentNullException(nameof(input), "SparseConv2dBackward: the weight gradient needs the input"), map.In, xr);
                    // Written straight into the gradient tensor (from the TensorPool); the packed-layout sums are scratch.
                    dwt = Tensor.Empty(weight.ShapeArray(), DTypes.Of<T>());
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
        return (dx, dwt, db);
    }

    /// <summary>Rows to a new dense tensor of the input's layout: NCHW through the column runs (every element written
    /// once, no zero fill), channels-last as row copies into a zero tensor.</summary>
    private static Tensor ScatterRows<T>(T[] rows, SparseSites sites, int c, bool cl, SparseConvOptions options) where T : unmanaged
        => cl || options.RowsOnly ? RowIO.Scatter(rows, sites, c, cl)
            : RowIO.ScatterNchw(rows, PlaneRuns.Of(sites, Vector256<float>.Count), c, DTypes.Of<T>());

    /// <summary>The implicit GEMM (no im2col) serves ungrouped convolutions through a neighbour map.</summary>
    private static bool UseImplicitGemm(int groups, int[]? map, SparseConvOptions options) => groups == 1 && map is not null && !options.RowsOnly;

    /// <summary>(C, taps) -> (taps, C), in a rented array the caller returns.</summary>
    private static T[] Transpose<T>(ReadOnlySpan<T> w, int c, int taps) where T : unmanaged
    {
        var r = Scratch.Rent<T>(c * taps);
        for (int i = 0; i < c; i++)
            for (int t = 0; t < taps; t++) r[t * c + i] = w[i * taps + t];
        return r;
    }

    // ---- 1x1 stride 1, channels-first: channel-major rows ----

    /// <summary>
    /// 1x1 stride-1 conv of an NCHW input in channel-major rows (C, N): Yᵀ = W · Xᵀ, so gathering and scattering read
    /// and write one channel plane at a time and need no transpose; dXᵀ = Wᵀ · dYᵀ, dW = dYᵀ · X.
    /// </summary>
    private static (Tensor, T[]?) PointwiseForward<T>(Tensor input, Tensor weight, Tensor? bias, SparseSites sites, bool keep)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = sites.Count, cin = input.Size(1), cout = weight.Size(0);
        var runs = PlaneRuns.Of(sites, Vector256<T>.Count);
        var wt = WeightRef<T>.Of(weight); // (cout, cin)
        T[]? bArr = bias?.ToArray<T>();
        var xt = Scratch.Rent<T>(Math.Max(1, cin * n));
        var yt = Scratch.Rent<T>(Math.Max(1, cout * n));
        Tensor y;
        try
        {
            GatherChannelMajor(input, sites, runs, xt);
            Blas.Gemm(cout, n, cin, new StridedMatrix<T>(wt.Data, wt.Offset, cin, 1), new StridedMatrix<T>(xt, 0, n, 1), yt, 0, n, accumulate: false);
            if (bArr is not null)
                for (int o = 0; o < cout; o++) TensorPrimitives.Add(yt.AsSpan(o * n, n), bArr[o], yt.AsSpan(o * n, n));
            y = RowIO.ScatterChannelMajor(yt, runs, n, cout, input.DType);
        }
        finally
        {
            if (!keep) Scratch.Return(xt);
            Scratch.Return(yt);
        }
        return (y, keep ? xt : null);
    }

    private static void GatherChannelMajor<T>(Tensor t, SparseSites sites, PlaneRuns runs, T[] dst) where T : unmanaged
    {
        if (RowIO.RunsApply(t)) RowIO.GatherChannelMajor(t, runs, sites.Count, dst);
        else RowIO.GatherChannelMajor(t, sites, dst);
    }

    private static (Tensor?, Tensor?, Tensor?) PointwiseBackward<T>(Tensor gy, Tensor? input, T[]? kept, Tensor weight, SparseSites sites,
        bool gx, bool gw, bool gb) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = sites.Count, cout = weight.Size(0), cin = weight.Size(1);
        var runs = PlaneRuns.Of(sites, Vector256<T>.Count);
        var wt = WeightRef<T>.Of(weight);
        var dyt = Scratch.Rent<T>(Math.Max(1, cout * n));
        try
        {
            GatherChannelMajor(gy, sites, runs, dyt);
            Tensor? dx = null, dw = null, db = null;
            if (gx)
            {
                var dxt = Scratch.Rent<T>(Math.Max(1, cin * n));
                try
                {
                    Blas.Gemm(cin, n, cout, new StridedMatrix<T>(wt.Data, wt.Offset, 1, cin), new StridedMatrix<T>(dyt, 0, n, 1), dxt, 0, n, accumulate: false);
                    dx = RowIO.ScatterChannelMajor(dxt, runs, n, cin, gy.DType);
                }
                finally { Scratch.Return(dxt); }
            }
            if (gw)
            {
                var xt = kept;
                bool fresh = xt is null;
                xt ??= Scratch.Rent<T>(Math.Max(1, cin * n));
                try
                {
                    if (fresh) GatherChannelMajor(input ?? throw new ArgumentNullException(nameof(input), "SparseConv2dBackward: the weight gradient needs the input"), sites, runs, xt);
                    dw = Tensor.Empty(weight.ShapeArray(), DTypes.Of<T>());   // written in place (from the TensorPool)
                    Blas.Gemm(cout, cin, n, new StridedMatrix<T>(dyt, 0, n, 1), new StridedMatrix<T>(xt, 0, 1, n),
                        RowIO.Data<T>(dw), dw.Offset, cin, accumulate: false);
                }
                finally { Scratch.Return(xt); }
            }
            if (gb)
            {
                var s = new T[cout];
                for (int o = 0; o < cout; o++) s[o] = TensorPrimitives.Sum<T>(dyt.AsSpan(o * n, n));
                db = Tensor.FromArray(s, [cout]);
            }
            return (dx, dw, db);
        }
        finally { Scratch.Return(dyt); }
    }

    // ---- depthwise, stride 1, same padding, channels-first: the plane kernels ----

    private static DepthwisePlanes.Geo PlaneGeo(SparseConvMap m) => new(m.KernelH, m.KernelW, m.DilationH, m.DilationW, m.PadH, m.PadW);

    private static Tensor DepthwisePlanesForward<T>(Tensor input, Tensor weight, Tensor? bias, SparseConvMap map)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = input.Size(0), c = input.Size(1), h = input.Size(2), w = input.Size(3);
        var runs = PlaneRuns.Of(map.In, Vector256<T>.Count);
        var wt = WeightRef<T>.Of(weight);
        T[]? bArr = bias?.ToArray<T>();
        var y = Tensor.Empty([n, c, h, w], input.DType);
        DepthwisePlanes.Forward(RowIO.Data<T>(input), input.Offset, input.Stride(0), input.Stride(1), input.Stride(2), runs, c, wt.Data, wt.Offset,
            PlaneGeo(map), flip: false, bArr, RowIO.Data<T>(y));
        return y;
    }

    private static (Tensor?, Tensor?, Tensor?) DepthwisePlanesBackward<T>(Tensor gy, Tensor? savedX, Tensor weight, SparseConvMap map,
        bool gx, bool gw, bool gb) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = gy.Size(0), c = gy.Size(1), h = gy.Size(2), w = gy.Size(3);
        var runs = PlaneRuns.Of(map.In, Vector256<T>.Count);
        var wt = WeightRef<T>.Of(weight);
        if (gy.Stride(3) != 1) gy = gy.Contiguous();
        var dyArr = RowIO.Data<T>(gy);
        int o0 = gy.Offset, s0 = gy.Stride(0), s1 = gy.Stride(1), s2 = gy.Stride(2);
        if (gw && savedX is null) throw new ArgumentNullException(nameof(savedX), "SparseConv2dBackward: the weight gradient needs the input");
        Tensor? dx = null, dwt = null, db = null;
        if (gx) dx = Tensor.Empty([n, c, h, w], gy.DType);
        if (gw) dwt = Tensor.Empty(weight.ShapeArray(), gy.DType);   // written in place by the kernel
        if (gx || gw)
            DepthwisePlanes.Backward(dyArr, o0, s0, s1, s2,
                gw ? RowIO.Data<T>(savedX!) : null, savedX?.Offset ?? 0, savedX?.Stride(0) ?? 0, savedX?.Stride(1) ?? 0, savedX?.Stride(2) ?? 0,
                runs, c, wt.Data, wt.Offset, PlaneGeo(map), gx ? RowIO.Data<T>(dx!) : null, gw ? RowIO.Data<T>(dwt!) : null, dwt?.Offset ?? 0);
        if (gb)
        {
            var s = new T[c];
            for (int ch = 0; ch < c; ch++)
            {
                T acc = T.Zero;
                for (int b = 0; b < n; b++)
                    for (int yy = 0; yy < h; yy++)
                    {
                        int e1 = runs.RunStart[b * h + yy + 1];
                        for (int e = runs.RunStart[b * h + yy]; e < e1; e++)
                            acc += TensorPrimitives.Sum<T>(dyArr.AsSpan(o0 + b * s0 + ch * s1 + yy * s2 + runs.X0[e], runs.X1[e] - runs.X0[e]));
                    }
                s[ch] = acc;
            }
            db = Tensor.FromArray(s, [c]);
        }
        return (dx, dwt, db);
    }
}
