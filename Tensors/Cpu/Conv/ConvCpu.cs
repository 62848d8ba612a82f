using System.Numerics;
using Sparkle.Tensors.Backend;
using System.Runtime.Intrinsics;
using Sparkle.Tensors.Cpu.Elementwise;
using Sparkle.Tensors.Cpu.Gemm;

namespace Sparkle.Tensors.Cpu.Conv;

/// <summary>
/// The CPU backend's three convolution passes for one dtype: brings the operands into a layout a kernel
/// accepts (<see cref="ConvLayout"/>), picks the algorithm (<see cref="ConvPlan"/>) and the GEMM micro-kernel by the
/// backend's <see cref="CpuKernelOptions"/>, and runs it.
/// </summary>
internal static class ConvCpu<T> where T : unmanaged, INumber<T>
{
    public static void Forward(Tensor x, Tensor w, Tensor? b, Tensor y, in Conv2dParams p, CpuKernelOptions o)
    {
        var g = new ConvGeometry(x.Shape, w.Shape, y.Shape, p);
        if (y.NumElements == 0) return;
        if (!ConvLayout.IsDenseChannelsLast(y) && !y.IsContiguous)
        {
            var tmp = ConvLayout.Empty(y, y.Shape, ConvLayout.IsDenseChannelsLast(x));
            Forward(x, w, b, tmp, p, o);
            y.Backend.Copy(tmp, y);
            return;
        }
        Vec<T>? bias = b is null ? null : new Vec<T>(CpuBackend.Data<T>(b), b.Offset, b.Stride(0));
        if (g.K == 0 || g.N == 0)
        {
            FillBias(y, bias, g);
            return;
        }
        var plan = ConvPlan.Forward(g, x, y, o);
        if (plan.Algorithm == ConvAlgorithm.Winograd && g.O > 1 && !ConvLayout.IsDenseChannelsLast(y))
        {
            var tmp = ConvLayout.Empty(y, y.Shape, channelsLast: true);
            Forward(x, w, b, tmp, p, o);
            y.Backend.Copy(tmp, y);
            return;
        }
        if (plan.CopyInput) x = plan.ChannelsLast ? ConvLayout.ToChannelsLast(x) : x.Detach().Contiguous();
        var xa = Act<T>.Of(x);
        var ya = Act<T>.Of(y);
        var wv = WeightView<T>.Of(w);
        switch (plan.Algorithm)
        {
            case ConvAlgorithm.Slab when plan.Width == SimdWidth.V512: SlabConv<T, Vector512<T>, Simd512<T>>.Forward(xa, wv, bias, ya, g); break;
            case ConvAlgorithm.Slab when plan.Width == SimdWidth.V128: SlabConv<T, Vector128<T>, Simd128<T>>.Forward(xa, wv, bias, ya, g); break;
            case ConvAlgorithm.Slab: SlabConv<T, Vector256<T>, Simd256<T>>.Forward(xa, wv, bias, ya, g); break;
            case ConvAlgorithm.Batched: BatchedConv<T>.Forward(xa, wv, bias, ya, g, o); break;
            case ConvAlgorithm.Winograd when plan.Width == SimdWidth.V512: WinogradConv<T, Vector512<T>, Simd512<T>>.Forward(xa, wv, bias, ya, g, o); break;
            case ConvAlgorithm.Winograd when plan.Width == SimdWidth.V128: WinogradConv<T, Vector128<T>, Simd128<T>>.Forward(xa, wv, bias, ya, g, o); break;
            case ConvAlgorithm.Winograd: WinogradConv<T, Vector256<T>, Simd256<T>>.Forward(xa, wv, bias, ya, g, o); break;
            case ConvAlgorithm.Pointwise: PointwiseConv<T>.Forward(xa, wv, bias, ya, g, o.GemmKernel); break;
            case ConvAlgorithm.DepthwiseNchw when plan.Width == SimdWidth.V128: DepthwiseNchw<T, Vector128<T>, Simd128<T>>.Forward(xa, wv, bias, ya, g); break;
            case ConvAlgorithm.DepthwiseNchw: DepthwiseNchw<T, Vector256<T>, Simd256<T>>.Forward(xa, wv, bias, ya, g); break;
            case ConvAlgorithm.DepthwiseNhwc when plan.Width == SimdWidth.V128: DepthwiseNhwc<T, Vector128<T>, Simd128<T>>.Forward(xa, wv, bias, ya, g, false); break;
            case ConvAlgorithm.DepthwiseNhwc: DepthwiseNhwc<T, Vector256<T>, Simd256<T>>.Forward(xa, wv, bias, ya, g, ConvPlan.DepthwiseFourRows(o)); break;
            case ConvAlgorithm.Im2ColNhwc: WithKernel(o.GemmKernel, new ForwardNhwc(xa, wv, bias, ya, g)); break;
            default: WithKernel(o.GemmKernel, new ForwardNchw(xa, wv, bias, ya, g)); break;
        }
    }

    public static void BackwardInput(Tensor dy, Tensor w, Tensor dx, in Conv2dParams p, CpuKernelOptions o)
    {
        var g = new ConvGeometry(dx.Shape, w.Shape, dy.Shape, p);
        if (dx.NumElements == 0) return;
        if (g.N == 0 || g.Og == 0 || g.P == 0)
        {
            dx.Backend.Fill(dx, 0);
            return;
        }
        var plan = ConvPlan.BackwardInput(g, dy, dx, o);
        if (plan.Algorithm == ConvAlgorithm.Winograd && g.C > 1 && !ConvLayout.IsDenseChannelsLast(dx))
        {
            var tmp = ConvLayout.Empty(dx, dx.Shape, channelsLast: true);
            BackwardInput(dy, w, tmp, p, o);
            dx.Backend.Copy(tmp, dx);
            return;
        }
        if (plan.CopyInput) dy = plan.ChannelsLast ? ConvLayout.ToChannelsLast(dy) : dy.Detach().Contiguous();
        var dya = Act<T>.Of(dy);
        var dxa = Act<T>.Of(dx);
        var wv = WeightView<T>.Of(w);
        switch (plan.Algorithm)
        {
            case ConvAlgorithm.Slab when plan.Width == SimdWidth.V512: SlabConv<T, Vector512<T>, Simd512<T>>.BackwardInput(dya, wv, dxa, g); break;
            case ConvAlgorithm.Slab when plan.Width == SimdWidth.V128: SlabConv<T, Vector128<T>, Simd128<T>>.BackwardInput(dya, wv, dxa, g); break;
            case ConvAlgorithm.Slab: SlabConv<T, Vector256<T>, Simd256<T>>.BackwardInput(dya, wv, dxa, g); break;
            case ConvAlgorithm.Batched: BatchedConv<T>.BackwardInput(dya, wv, dxa, g, o); break;
            case ConvAlgorithm.Winograd when plan.Width == SimdWidth.V512: WinogradConv<T, Vector512<T>, Simd512<T>>.BackwardInput(dya, wv, dxa, g, o); break;
            case ConvAlgorithm.Winograd when plan.Width == SimdWidth.V128: WinogradConv<T, Vector128<T>, Simd128<T>>.BackwardInput(dya, wv, dxa, g, o); break;
            case ConvAlgorithm.Winograd: WinogradConv<T, Vector256<T>, Simd256<T>>.BackwardInput(dya, wv, dxa, g, o); break;
            case ConvAlgorithm.Pointwise: PointwiseConv<T>.BackwardInput(dya, wv, dxa, g, o.GemmKernel); break;
            case ConvAlgorithm.DepthwiseNchw when plan.Width == SimdWidth.V128: DepthwiseNchw<T, Vector128<T>, Simd128<T>>.BackwardInput(dya, wv, dxa, g); break;
            case ConvAlgorithm.DepthwiseNchw: DepthwiseNchw<T, Vector256<T>, Simd256<T>>.BackwardInput(dya, wv, dxa, g); break;
            case ConvAlgorithm.DepthwiseNhwc when plan.Width == SimdWidth.V128: DepthwiseNhwc<T, Vector128<T>, Simd128<T>>.BackwardInput(dya, wv, dxa, g, false); break;
            case ConvAlgorithm.DepthwiseNhwc: DepthwiseNhwc<T, Vector256<T>, Simd256<T>>.BackwardInput(dya, wv, dxa, g, ConvPlan.DepthwiseFourRows(o)); break;
            case ConvAlgorithm.Im2ColNhwc: WithKernel(o.GemmKernel, new BackwardInputNhwc(dya, wv, dxa, g)); break;
            default: WithKernel(o.GemmKernel, new BackwardInputNchw(dya, wv, dxa, g)); break;
        }
    }

    public static void BackwardWeight(Tensor dy, Tensor x, Tensor dw, in Conv2dParams p, CpuKernelOptions o)
    {
        var g = new ConvGeometry(x.Shape, dw.Shape, dy.Shape, p);
        if (dw.NumElements == 0) return;
        if (g.N == 0 || g.P == 0)
        {
            dw.Backend.Fill(dw, 0);
            return;
        }
        var plan = ConvPlan.BackwardWeight(g, dy, x, o);
        if (plan.Algorithm == ConvAlgorithm.Winograd)
        {
            if (!ConvLayout.UnitC(x)) x = ConvLayout.ToChannelsLast(x);
            if (!ConvLayout.UnitC(dy)) dy = ConvLayout.ToChannelsLast(dy);
        }
        var (dya, xa, dwa) = (Act<T>.Of(dy), Act<T>.Of(x), Act<T>.Of(dw));
        switch (plan.Algorithm)
        {
            case ConvAlgorithm.Batched: BatchedConv<T>.BackwardWeight(dya, xa, dwa, g, o); break;
            case ConvAlgorithm.Winograd when plan.Width == SimdWidth.V512: WinogradConv<T, Vector512<T>, Simd512<T>>.BackwardWeight(dya, xa, dwa, g, o); break;
            case ConvAlgorithm.Winograd when plan.Width == SimdWidth.V128: WinogradConv<T, Vector128<T>, Simd128<T>>.BackwardWeight(dya, xa, dwa, g, o); break;
            case ConvAlgorithm.Winograd: WinogradConv<T, Vector256<T>, Simd256<T>>.BackwardWeight(dya, xa, dwa, g, o); break;
            case ConvAlgorithm.Pointwise: PointwiseConv<T>.BackwardWeight(dya, xa, dwa, g, o.GemmKernel); break;
            case ConvAlgorithm.Slab when plan.Width == SimdWidth.V512: SlabWeightGradDirect<T, Vector512<T>, Simd512<T>>.Run(dya, xa, dwa, g); break;
            case ConvAlgorithm.Slab when plan.Width == SimdWidth.V128: SlabWeightGradDirect<T, Vector128<T>, Simd128<T>>.Run(dya, xa, dwa, g); break;
            case ConvAlgorithm.Slab: SlabWeightGradDirect<T, Vector256<T>, Simd256<T>>.Run(dya, xa, dwa, g); break;
            case ConvAlgorithm.DepthwiseNchw when plan.Width == SimdWidth.V128: DepthwiseNchw<T, Vector128<T>, Simd128<T>>.BackwardWeight(dya, xa, dwa, g); break;
            case ConvAlgorithm.DepthwiseNchw: DepthwiseNchw<T, Vector256<T>, Simd256<T>>.BackwardWeight(dya, xa, dwa, g); break;
            case ConvAlgorithm.DepthwiseNhwc when plan.Width == SimdWidth.V128: DepthwiseNhwc<T, Vector128<T>, Simd128<T>>.BackwardWeight(dya, xa, dwa, g, false); break;
            case ConvAlgorithm.DepthwiseNhwc: DepthwiseNhwc<T, Vector256<T>, Simd256<T>>.BackwardWeight(dya, xa, dwa, g, ConvPlan.DepthwiseFourRows(o)); break;
            default: WithKernel(o.GemmKernel, new BackwardWeightSlab(dya, xa, dwa, g)); break;
        }
    }

    private static void FillBias(Tensor y, Vec<T>? bias, ConvGeometry g)
    {
        if (bias is not { } bv) { y.Backend.Fill(y, 0); return; }
        var ya = Act<T>.Of(y);
        for (int n = 0; n < g.N; n++)
            for (int o = 0; o < g.O; o++)
                for (int h = 0; h < g.OH; h++)
                    for (int w = 0; w < g.OW; w++) ya.Data[ya.Index(n, o, h, w)] = bv[o];
    }

    // ---- micro-kernel dispatch: each pass is a struct whose generic Run the JIT specialises per kernel ----

    private interface IPass
    {
        void Run<TK>() where TK : IMicroKernel<T>;
    }

    private static void WithKernel<TP>(GemmKernel kernel, TP pass) where TP : IPass
    {
        switch (kernel)
        {
            case GemmKernel.Vector512: pass.Run<MicroKernelV512<T>>(); break;
            case GemmKernel.Vector256: pass.Run<MicroKernelV256<T>>(); break;
            case GemmKernel.Vector128: pass.Run<MicroKernelV128<T>>(); break;
            default: pass.Run<MicroKernelScalar<T>>(); break;
        }
    }

    private readonly record struct ForwardNchw(Act<T> X, WeightView<T> W, Vec<T>? B, Act<T> Y, ConvGeometry G) : IPass
    {
        public void Run<TK>() where TK : IMicroKernel<T> => Im2ColConv<T, TK>.ForwardNchw(X, W, B, Y, G);
    }

    private readonly record struct ForwardNhwc(Act<T> X, WeightView<T> W, Vec<T>? B, Act<T> Y, ConvGeometry G) : IPass
    {
        public void Run<TK>() where TK : IMicroKernel<T> => Im2ColConv<T, TK>.ForwardNhwc(X, W, B, Y, G);
    }

    private readonly record struct BackwardInputNchw(Act<T> Dy, WeightView<T> W, Act<T> Dx, ConvGeometry G) : IPass
    {
        public void Run<TK>() where TK : IMicroKernel<T> => Im2ColConv<T, TK>.BackwardInputNchw(Dy, W, Dx, G);
    }

    private readonly record struct BackwardInputNhwc(Act<T> Dy, WeightView<T> W, Act<T> Dx, ConvGeometry G) : IPass
    {
        public void Run<TK>() where TK : IMicroKernel<T> => Im2ColConv<T, TK>.BackwardInputNhwc(Dy, W, Dx, G);
    }

    private readonly record struct BackwardWeightSlab(Act<T> Dy, Act<T> X, Act<T> Dw, ConvGeometry G) : IPass
    {
        public void Run<TK>() where TK : IMicroKernel<T> => SlabWeightGrad<T, TK>.Run(Dy, X, Dw, G);
    }
}
