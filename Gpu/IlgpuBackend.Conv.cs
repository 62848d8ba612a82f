using ILGPU;
using ILGPU.Runtime;
using Sparkle.Gpu.Kernels;
using Sparkle.Tensors;
using Sparkle.Tensors.Backend;

namespace Sparkle.Gpu;

/// <summary>
/// Dense convolution on the device: each pass runs the <see cref="GpuConvPlan"/> that <see cref="PlanConv"/> returns — a
/// tiled implicit GEMM (<see cref="TiledConvKernel"/> on the <see cref="TiledGemm"/> core) or the direct / depthwise
/// per-element kernels (<see cref="ConvKernels"/>): one launch per pass, two for a weight gradient whose N·OH·OW reduction
/// is split into parts. Any stride, padding, dilation and group count, float32 and float64; every operand is read or
/// written through its own strides, so channels-last and other views need no copy. <see cref="SeamConv"/> stays as the
/// composition for backends without conv kernels.
/// </summary>
public sealed partial class IlgpuBackend
{
    /// <summary>Output positions (N·OH·OW) per chunk of the weight gradient's reduction (default 4,096): a reduction
    /// longer than this is split into partials (at most 256 parts and 16M partial elements) and a second launch adds them in part order, so a
    /// long reduction over few weights still fills the device. int.MaxValue: never split. Tests lower it.</summary>
    public int ConvWeightGradChunk { get; set; } = 4096;

    private readonly System.Collections.Concurrent.ConcurrentDictionary<(string, Type), Delegate> _tiledConvKernels = new();

    /// <summary>Run a pass as the tiled implicit GEMM where its GEMM has at least <see cref="TiledConvMinOutChannels"/> rows
    /// per group (default 16: O/groups for the forward and weight gradient, C/groups for the input gradient; fewer leave
    /// most of a tile's rows empty, as in a depthwise conv, and the one-thread-per-element kernels are better). Off: always
    /// those kernels. Tests set both.</summary>
    public bool TiledConv { get; set; } = true;

    /// <inheritdoc cref="TiledConv"/>
    public int TiledConvMinOutChannels { get; set; } = 16;

    /// <summary>Let the plan pick the tiled kernel's wide variant (8x8 micro-tiles on 128x128 block tiles,
    /// <see cref="TiledGemm.BlockWide"/>; bit-identical results) where the thread group is 16x16 (devices allowing 256
    /// threads per group, no <see cref="MatMulGroup"/> override) and the pass's GEMM has at least 128 rows. Default on.</summary>
    public bool TiledConvWide { get; set; } = true;

    public void Conv2dForward(Tensor input, Tensor weight, Tensor? bias, Tensor dst, in Conv2dParams p)
    {
        switch (dst.DType)
        {
            case DType.Float32: ConvForward<float, F32>(input, weight, bias, dst, p); break;
            case DType.Float64: ConvForward<double, F64>(input, weight, bias, dst, p); break;
            default: throw new NotSupportedException($"Conv2d supports float32 and float64, not {dst.DType.Name()}.");
        }
    }

    public void Conv2dBackwardInput(Tensor gradOutput, Tensor weight, Tensor gradInput, in Conv2dParams p)
    {
        switch (gradInput.DType)
        {
            case DType.Float32: ConvBackwardInput<float, F32>(gradOutput, weight, gradInput, p); break;
            case DType.Float64: ConvBackwardInput<double, F64>(gradOutput, weight, gradInput, p); break;
            default: throw new NotSupportedException($"Conv2d supports float32 and float64, not {gradInput.DType.Name()}.");
        }
    }

    public void Conv2dBackwardWeight(Tensor gradOutput, Tensor input, Tensor gradWeight, in Conv2dParams p)
    {
        switch (gradWeight.DType)
        {
            case DType.Float32: ConvBackwardWeight<float, F32>(gradOutput, input, gradWeight, p); break;
            case DType.Float64: ConvBackwardWeight<double, F64>(gradOutput, input, gradWeight, p); break;
            default: throw new NotSupportedException($"Conv2d supports float32 and float64, not {gradWeight.DType.Name()}.");
        }
    }

    /// <summary>The plan a pass runs for a convolution of x (N, C, H, W) with w (O, C/groups, KH, KW) into y (N, O, OH, OW)
    /// of <paramref name="dtype"/> (the conv's shapes for every pass; ConvTranspose2d's forward is
    /// <see cref="GpuConvPass.BackwardInput"/>). Rules: the tiled implicit GEMM where <see cref="TiledConv"/> is on, the
    /// pass's GEMM has at least <see cref="TiledConvMinOutChannels"/> rows per group (forward and weight gradient: O/groups;
    /// input gradient: C/groups) and the grid fits (the input gradient also needs stride or dilation 1 per axis: it runs one
    /// GEMM per stride phase) — on the TF32 core (<see cref="GpuConvKernel.Tf32"/>) for float32 where
    /// <see cref="AllowTf32"/> is on and the device can, else the FP32/FP64 core; else the depthwise
    /// (C/groups = O/groups = 1) or direct per-element kernels. The weight gradient splits its N·OH·OW reduction by
    /// <see cref="ConvWeightGradChunk"/> (at most 256 parts and 16M partial elements), for every kernel. On CUDA the first
    /// float32 plan may run the TF32 self-check.</summary>
    /// <remarks>A depthwise pass with column stride and dilation 1 (stride 1 on both axes for the input gradient) runs
    /// the shared-memory kernels (<see cref="GpuConvKernel.DepthwiseTiled"/>) where <see cref="TiledDepthwise"/> is on and
    /// its tile fits; their tile depends on the layout: <paramref name="channelsLast"/> = the pass's x (or, for the input
    /// gradient, dx) is channels-last.</remarks>
    public GpuConvPlan PlanConv(GpuConvPass pass, DType dtype, ReadOnlySpan<int> input, ReadOnlySpan<int> weight, ReadOnlySpan<int> output, in Conv2dParams p, bool channelsLast = false)
    {
        var a = Geometry(input, weight, output, p);
        a.ChannelsLast = channelsLast ? 1 : 0;
        return Plan(pass, a, p.Groups, dtype);
    }

    private GpuConvPlan Plan(GpuConvPass pass, in ConvArgs a, int groups, DType dtype)
    {
        long pixels = (long)a.N * a.OH * a.OW, khw = a.KH * a.KW;
        var (m, n, k) = pass switch
        {
            GpuConvPass.Forward => ((long)a.Og, pixels, a.Cg * khw),
            GpuConvPass.BackwardInput => ((long)a.Cg, (long)a.N * a.H * a.W, a.Og * khw),
            _ => ((long)a.Og, a.Cg * khw, pixels),
        };
        int parts = 1, chunk = (int)Math.Min(k, int.MaxValue);
        if (pass == GpuConvPass.BackwardWeight)
        {
            if (ConvWeightGradChunk < 1) throw new ArgumentOutOfRangeException(nameof(ConvWeightGradChunk), $"ConvWeightGradChunk {ConvWeightGradChunk}: at least 1.");
            // Parts depend on the geometry and the setting only, so the summation order (and result) is reproducible.
            long weights = Math.Max((long)a.O * a.Cg * khw, 1);
            int maxParts = (int)Math.Clamp(MaxConvWeightPartials / weights, 1, MaxConvWeightParts);
            chunk = (int)Math.Max(Math.Min(ConvWeightGradChunk, k), (k + maxParts - 1) / maxParts);
            parts = chunk == 0 ? 1 : (int)((k + chunk - 1) / chunk);
            chunk = Math.Max(chunk, 1);
        }
        // The tiled input gradient runs one GEMM per stride phase over just its taps (ConvPhase): exact when the stride
        // or the dilation is 1 on each axis; its N and K are those of the largest phase.
        bool phased = pass == GpuConvPass.BackwardInput;
        bool phasable = !phased || ((a.SH == 1 || a.DH == 1) && (a.SW == 1 || a.DW == 1));
        int phases = phased ? a.SH * a.SW : 1;
        long pn = 0, pk = 0, pmacs = 0;
        for (int rh = 0; phased && rh < a.SH; rh++)
            for (int rw = 0; rw < a.SW; rw++)
            {
                long np = (long)a.N * ConvPhase.Count(a.H, rh, a.SH) * ConvPhase.Count(a.W, rw, a.SW);
                long kp = (long)a.Og * ConvPhase.Count(a.KH, (rh + a.PH) % a.SH, a.SH) * ConvPhase.Count(a.KW, (rw + a.PW) % a.SW, a.SW);
                (pn, pk, pmacs) = (Math.Max(pn, np), Math.Max(pk, kp), pmacs + groups * m * np * kp);
            }
        var (tx, ty) = GemmGroup();
        // The wide tiles (8x8 micro-tiles, 128x128) where the group is 16x16 and the rows fill them.
        int micro = TiledConvWide && (tx, ty) == (TiledGemm.WideSide, TiledGemm.WideSide) && m >= TiledGemm.WideTile ? TiledGemm.WideMicro : TiledGemm.Micro;
        long tn = phased ? pn : n;
        long gx = (tn + micro * tx - 1) / (micro * tx), gy = (m + micro * ty - 1) / (micro * ty);
        bool tiled = TiledConv && phasable && m >= TiledConvMinOutChannels && gx <= int.MaxValue && gy <= 65535 && (long)groups * parts * phases <= 65535;
        // TF32's 128x128 tiles make a smaller grid than the FP32 tiles, so every tiled geometry fits it too.
        bool tf32 = tiled && dtype == DType.Float32 && UseTf32;
        var kernel = tf32 ? GpuConvKernel.Tf32 : tiled ? GpuConvKernel.TiledGemm : a.Cg == 1 && a.Og == 1 ? GpuConvKernel.Depthwise : GpuConvKernel.Direct;
        if (tf32) (tx, ty, micro) = (Tf32Gemm.BN / Tf32Micro, Tf32Gemm.BM / Tf32Micro, Tf32Micro);
        if (kernel == GpuConvKernel.Depthwise && DepthwisePlan(pass, a, groups, dtype, m, n, k) is { } dw) return dw;
        if (tiled && phased) return new GpuConvPlan(pass, kernel, groups, m, pn, pk, tx, ty, micro, parts, chunk, phases, pmacs);
        return new GpuConvPlan(pass, kernel, groups, m, n, k, tx, ty, micro, parts, chunk, 1, groups * m * n * k);
    }

    private void ConvForward<T, TE>(Tensor x, Tensor w, Tensor? b, Tensor y, in Conv2dParams p) where T : unmanaged where TE : struct, IElement<T>
    {
        var a = Args(x, w, y, p, written: y);
        if (b is not null) (a.BOff, a.BS, a.HasBias) = (b.Offset, b.Stride(0), 1);
        if (y.NumElements == 0) return;
        var plan = Plan(GpuConvPass.Forward, a, p.Groups, DTypeOf<T>());
        if (plan.Kernel == GpuConvKernel.Tf32) { Tf32ConvForward(x, w, b, y, a, plan); return; }
        if (plan.Kernel == GpuConvKernel.DepthwiseTiled) { DepthwiseForward<T, TE>(x, w, b, y, a, plan); return; }
        var (xv, wv, yv) = (View<T>(x), View<T>(w), View<T>(y));
        var bv = b is null ? wv : View<T>(b);                     // unread when HasBias = 0; any view of T will do
        if (plan.Kernel == GpuConvKernel.TiledGemm)
        {
            var kernel = (Action<KernelConfig, ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, ConvArgs, int, int>)_tiledConvKernels.GetOrAdd((plan.Micro == TiledGemm.WideMicro ? "ForwardWide" : "Forward", typeof(T)),
                _ => _accelerator.LoadStreamKernel<ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, ConvArgs, int, int>(plan.Micro == TiledGemm.WideMicro ? TiledConvKernel.ForwardWide<T, TE> : TiledConvKernel.Forward<T, TE>));
            lock (_gate) Timed(plan.LaunchName, Threads(plan), Detail(a, plan), () => kernel(Config(plan), xv, wv, bv, yv, a, plan.Tx, plan.Ty));
            return;
        }
        Launch(y.NumElements, i => _kernels.Get<ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>,
            ArrayView1D<T, Stride1D.Dense>, ConvArgs>(ConvKernels.Forward<T, TE>)(i, xv, wv, bv, yv, a), Detail(a, plan), plan.LaunchName);
    }

    private void ConvBackwardInput<T, TE>(Tensor dy, Tensor w, Tensor dx, in Conv2dParams p) where T : unmanaged where TE : struct, IElement<T>
    {
        var a = Args(dx, w, dy, p, written: dx);
        if (dx.NumElements == 0) return;
        var plan = Plan(GpuConvPass.BackwardInput, a, p.Groups, DTypeOf<T>());
        if (plan.Kernel == GpuConvKernel.Tf32) { Tf32ConvBackwardInput(dy, w, dx, a, plan); return; }
        if (plan.Kernel == GpuConvKernel.DepthwiseTiled) { DepthwiseBackwardInput<T, TE>(dy, w, dx, a, plan); return; }
        var (yv, wv, xv) = (View<T>(dy), View<T>(w), View<T>(dx));
        if (plan.Kernel == GpuConvKernel.TiledGemm)
        {
            var kernel = (Action<KernelConfig, ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, ConvArgs, int, int>)_tiledConvKernels.GetOrAdd((plan.Micro == TiledGemm.WideMicro ? "BackwardInputWide" : "BackwardInput", typeof(T)),
                _ => _accelerator.LoadStreamKernel<ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, ConvArgs, int, int>(plan.Micro == TiledGemm.WideMicro ? TiledConvKernel.BackwardInputWide<T, TE> : TiledConvKernel.BackwardInput<T, TE>));
            lock (_gate) Timed(plan.LaunchName, Threads(plan), Detail(a, plan), () => kernel(Config(plan), yv, wv, xv, a, plan.Tx, plan.Ty));
            return;
        }
        Launch(dx.NumElements, i => _kernels.Get<ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>,
            ConvArgs>(ConvKernels.BackwardInput<T, TE>)(i, yv, wv, xv, a), Detail(a, plan), plan.LaunchName);
    }

    private void ConvBackwardWeight<T, TE>(Tensor dy, Tensor x, Tensor dw, in Conv2dParams p) where T : unmanaged where TE : struct, IElement<T>
    {
        var a = Args(x, dw, dy, p, written: null);
        a.ChannelsLast = ChannelsLastOrder(x);                     // the depthwise plan's tile follows x's layout
        int weights = dw.NumElements;
        if (weights == 0) return;
        var plan = Plan(GpuConvPass.BackwardWeight, a, p.Groups, DTypeOf<T>());
        var (yv, xv, wv) = (View<T>(dy), View<T>(x), View<T>(dw));
        using var partials = plan.Parts > 1 ? New<T>(dw.DType, plan.Parts * weights, zeroed: false) : null;
        var dst = partials is null ? wv : partials.View;
        if (plan.Kernel == GpuConvKernel.DepthwiseTiled) DepthwiseBackwardWeight<T, TE>(dy, x, dst, a, plan);
        else if (plan.Tiled)
        {
            var wa = new ConvWeightGradArgs
            {
                C = a, Parts = plan.Parts, Chunk = plan.Chunk,
                TapMajor = a.Cg > 1 && a.XsC == 1 && !(a.W > 1 && a.XsW == 1) ? 1 : 0,     // a channels-last x: channels across threads
            };
            // A TF32 plan is float32 only, so T is float here (the box is the cast the generic method cannot write).
            if (plan.Kernel == GpuConvKernel.Tf32) Tf32ConvBackwardWeight(View<float>(dy), View<float>(x), (ArrayView1D<float, Stride1D.Dense>)(object)dst, wa, plan);
            else
            {
            var kernel = (Action<KernelConfig, ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, ConvWeightGradArgs, int, int>)_tiledConvKernels.GetOrAdd((plan.Micro == TiledGemm.WideMicro ? "BackwardWeightWide" : "BackwardWeight", typeof(T)),
                _ => _accelerator.LoadStreamKernel<ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, ConvWeightGradArgs, int, int>(plan.Micro == TiledGemm.WideMicro ? TiledConvKernel.BackwardWeightWide<T, TE> : TiledConvKernel.BackwardWeight<T, TE>));
            lock (_gate) Timed(plan.LaunchName, Threads(plan), Detail(a, plan), () => kernel(Config(plan), yv, xv, dst, wa, plan.Tx, plan.Ty));
            }
        }
        else
        {
            var first = _kernels.Get<ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, ConvArgs, int, int>(
                ConvKernels.BackwardWeight<T, TE>);
            int split = plan.Parts > 1 ? 1 : 0;
            Launch(plan.Parts * weights, i => first(i, yv, xv, dst, a, plan.Chunk, split), Detail(a, plan), plan.LaunchName);
        }
        if (partials is null) return;
        var pv = partials.View;
        Launch(weights, i => _kernels.Get<ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, ConvArgs, int>(
            ConvKernels.FinishWeight<T, TE>)(i, pv, wv, a, plan.Parts), "", GpuConvPlan.FinishLaunchName);
    }

    /// <summary>The tiled kernels' grid: (N tiles, M tiles, groups·parts), a 1-D group of TX·TY threads.</summary>
    private static KernelConfig Config(GpuConvPlan plan) => new(
        new Index3D((int)((plan.N + plan.TileN - 1) / plan.TileN), (int)((plan.M + plan.TileM - 1) / plan.TileM), plan.Groups * plan.Parts * plan.Phases),
        new Index3D(plan.Tx * plan.Ty, 1, 1));

    private static long Threads(GpuConvPlan plan)
    {
        var c = Config(plan);
        return (long)c.GridDim.X * c.GridDim.Y * c.GridDim.Z * c.GroupDim.X;
    }

    /// <summary>A TF32 plan's Micro: 256 threads on a 128x128 tile hold 8x8 accumulators each.</summary>
    private const int Tf32Micro = 8;

    private const int MaxConvWeightParts = 256, MaxConvWeightPartials = 1 << 24;

    /// <summary>The kernels' view of one convolution: x (N, C, H, W), w (O, C/groups, KH, KW), y (N, O, OH, OW), with
    /// the shapes taken from the operands as given (the caller checked them) and each operand's own offset and strides.</summary>
    private static ConvArgs Args(Tensor x, Tensor w, Tensor y, in Conv2dParams p, Tensor? written)
    {
        var a = Geometry(x.Shape, w.Shape, y.Shape, p);
        (a.XOff, a.XsN, a.XsC, a.XsH, a.XsW) = (x.Offset, x.Stride(0), x.Stride(1), x.Stride(2), x.Stride(3));
        (a.WOff, a.WsO, a.WsC, a.WsH, a.WsW) = (w.Offset, w.Stride(0), w.Stride(1), w.Stride(2), w.Stride(3));
        (a.YOff, a.YsN, a.YsC, a.YsH, a.YsW) = (y.Offset, y.Stride(0), y.Stride(1), y.Stride(2), y.Stride(3));
        // Walk the written activation in its memory order: consecutive threads then store to consecutive addresses.
        if (written is not null) a.ChannelsLast = ChannelsLastOrder(written);
        return a;
    }

    private static int ChannelsLastOrder(Tensor t) => t.Size(1) > 1 && t.Stride(1) == 1 && !(t.Size(3) > 1 && t.Stride(3) == 1) ? 1 : 0;

    /// <summary>The shapes and the stride/padding/dilation of one convolution, checked against each other.</summary>
    private static ConvArgs Geometry(ReadOnlySpan<int> x, ReadOnlySpan<int> w, ReadOnlySpan<int> y, in Conv2dParams p)
    {
        if (x.Length != 4 || w.Length != 4 || y.Length != 4)
            throw new ArgumentException($"Conv2d: input {ShapeUtil.Format(x)}, weight {ShapeUtil.Format(w)} and output {ShapeUtil.Format(y)} must all be 4-D.");
        int groups = p.Groups;
        var a = new ConvArgs
        {
            N = x[0], C = x[1], H = x[2], W = x[3],
            O = w[0], KH = w[2], KW = w[3], OH = y[2], OW = y[3],
            SH = p.StrideH, SW = p.StrideW, PH = p.PadH, PW = p.PadW, DH = p.DilationH, DW = p.DilationW,
            Cg = w[1], Og = w[0] / groups,
        };
        if (a.Cg * groups != a.C || a.Og * groups != a.O || y[1] != a.O || y[0] != a.N)
            throw new ArgumentException($"Conv2d: input {ShapeUtil.Format(x)}, weight {ShapeUtil.Format(w)} and output {ShapeUtil.Format(y)} do not fit groups={groups}.");
        return a;
    }

    private static DType DTypeOf<T>() where T : unmanaged => typeof(T) == typeof(float) ? DType.Float32 : DType.Float64;

    /// <summary>The profile's detail for a pass: the geometry and the plan that ran.</summary>
    private string Detail(in ConvArgs a, GpuConvPlan plan) => Profile is null ? "" : $"{Detail(a)} | {plan}";

    /// <summary>The geometry alone (the TF32 forward's detail).</summary>
    private string Detail(in ConvArgs a) => Profile is null ? ""
        : $"x=({a.N},{a.C},{a.H},{a.W}) w=({a.O},{a.Cg},{a.KH},{a.KW}) y=({a.OH},{a.OW}) s=({a.SH},{a.SW}) p=({a.PH},{a.PW}) d=({a.DH},{a.DW}) g={a.C / Math.Max(a.Cg, 1)}{(a.ChannelsLast != 0 ? " cl" : "")}";
}
