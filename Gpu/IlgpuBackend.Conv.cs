using ILGPU;
using ILGPU.Runtime;
using Sparkle.Gpu.Kernels;
using Sparkle.Tensors;
using Sparkle.Tensors.Backend;

namespace Sparkle.Gpu;

/// <summary>
/// Dense convolution on the device by direct kernels (<see cref="ConvKernels"/>): one launch per pass, two for a weight
/// gradient whose N·OH·OW reduction is split into chunks. Any stride, padding, dilation and group count, float32 and
/// float64; every operand (input, weight, bias, output, the written gradient) is read or written through its own
/// strides, so channels-last and other views need no copy. <see cref="SeamConv"/> stays as the composition for
/// backends without conv kernels.
/// </summary>
public sealed partial class IlgpuBackend
{
    /// <summary>Output positions (N·OH·OW) per chunk of the weight gradient's reduction (default 4,096): a reduction
    /// longer than this is split into partials (at most 256 parts and 16M partial elements) and a second launch adds them in part order, so a
    /// long reduction over few weights still fills the device. int.MaxValue: never split. Tests lower it.</summary>
    public int ConvWeightGradChunk { get; set; } = 4096;

    private readonly System.Collections.Concurrent.ConcurrentDictionary<Type, Delegate> _tiledConvKernels = new();

    /// <summary>Run the forward pass (and ConvTranspose2d's input gradient) as the tiled implicit GEMM
    /// (<see cref="TiledConvKernel"/>, group shape as <see cref="MatMulGroup"/>) where a group has at least
    /// <see cref="TiledConvMinOutChannels"/> output channels (default 16: fewer leave most of a tile's rows empty, as in a
    /// depthwise conv, and the one-thread-per-output kernel is better). Off: always that kernel. Tests set both.</summary>
    public bool TiledConv { get; set; } = true;

    /// <inheritdoc cref="TiledConv"/>
    public int TiledConvMinOutChannels { get; set; } = 16;

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

    private void ConvForward<T, TE>(Tensor x, Tensor w, Tensor? b, Tensor y, in Conv2dParams p) where T : unmanaged where TE : struct, IElement<T>
    {
        var a = Args(x, w, y, p, written: y);
        if (b is not null) (a.BOff, a.BS, a.HasBias) = (b.Offset, b.Stride(0), 1);
        if (TryTf32ConvForward<T>(x, w, b, y, a, p.Groups)) return;             // TF32 tensor cores (IlgpuBackend.Tf32.cs)
        var (xv, wv, yv) = (View<T>(x), View<T>(w), View<T>(y));
        var bv = b is null ? wv : View<T>(b);                     // unread when HasBias = 0; any view of T will do
        if (TiledConv && a.Og >= TiledConvMinOutChannels && y.NumElements > 0)
        {
            var (tx, ty) = GemmGroup();
            long pixels = (long)a.N * a.OH * a.OW;
            long gx = (pixels + 4 * tx - 1) / (4 * tx);
            int gy = (a.Og + 4 * ty - 1) / (4 * ty), groups = p.Groups;
            if (gx <= int.MaxValue && gy <= 65535 && groups <= 65535)
            {
                var kernel = (Action<KernelConfig, ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>,
                    ArrayView1D<T, Stride1D.Dense>, ConvArgs, int, int>)_tiledConvKernels.GetOrAdd(typeof(T), _ => _accelerator.LoadStreamKernel<
                        ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>,
                        ConvArgs, int, int>(TiledConvKernel.Forward<T, TE>));
                var config = new KernelConfig(new Index3D((int)gx, gy, groups), new Index3D(tx * ty, 1, 1));
                lock (_gate) Timed("Conv2dForward(tiled)", gx * gy * groups * tx * ty, Detail(a), () => kernel(config, xv, wv, bv, yv, a, tx, ty));
                return;
            }
        }
        Launch(y.NumElements, i => _kernels.Get<ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>,
            ArrayView1D<T, Stride1D.Dense>, ConvArgs>(ConvKernels.Forward<T, TE>)(i, xv, wv, bv, yv, a), Detail(a), "Conv2dForward");
    }

    private void ConvBackwardInput<T, TE>(Tensor dy, Tensor w, Tensor dx, in Conv2dParams p) where T : unmanaged where TE : struct, IElement<T>
    {
        var a = Args(dx, w, dy, p, written: dx);
        var (yv, wv, xv) = (View<T>(dy), View<T>(w), View<T>(dx));
        Launch(dx.NumElements, i => _kernels.Get<ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>,
            ConvArgs>(ConvKernels.BackwardInput<T, TE>)(i, yv, wv, xv, a), Detail(a), "Conv2dBackwardInput");
    }

    private void ConvBackwardWeight<T, TE>(Tensor dy, Tensor x, Tensor dw, in Conv2dParams p) where T : unmanaged where TE : struct, IElement<T>
    {
        var a = Args(x, dw, dy, p, written: null);
        var (yv, xv, wv) = (View<T>(dy), View<T>(x), View<T>(dw));
        int weights = dw.NumElements;
        if (weights == 0) return;
        long total = (long)a.N * a.OH * a.OW;
        if (ConvWeightGradChunk < 1) throw new ArgumentOutOfRangeException(nameof(ConvWeightGradChunk), $"ConvWeightGradChunk {ConvWeightGradChunk}: at least 1.");
        // Parts depend on the geometry and the setting only, so the summation order (and result) is reproducible.
        // At most 256 parts, and at most 16M partial elements (64 MB of float32) whatever the weight count.
        int maxParts = Math.Clamp(MaxConvWeightPartials / weights, 1, MaxConvWeightParts);
        int chunk = (int)Math.Max(Math.Min(ConvWeightGradChunk, total), (total + maxParts - 1) / maxParts);
        int parts = chunk == 0 ? 1 : (int)((total + chunk - 1) / chunk);
        var first = _kernels.Get<ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, ConvArgs, int, int>(
            ConvKernels.BackwardWeight<T, TE>);
        if (parts <= 1)
        {
            Launch(weights, i => first(i, yv, xv, wv, a, Math.Max(chunk, 1), 0), Detail(a), "Conv2dBackwardWeight");
            return;
        }
        using var partials = New<T>(dw.DType, parts * weights, zeroed: false);
        var pv = partials.View;
        Launch(parts * weights, i => first(i, yv, xv, pv, a, chunk, 1), Profile is null ? "" : $"{Detail(a)} in {parts} parts", "Conv2dBackwardWeight(split)");
        Launch(weights, i => _kernels.Get<ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, ConvArgs, int>(
            ConvKernels.FinishWeight<T, TE>)(i, pv, wv, a, parts), "", "Conv2dBackwardWeight(split 2)");
    }

    private const int MaxConvWeightParts = 256, MaxConvWeightPartials = 1 << 24;

    /// <summary>The kernels' view of one convolution: x (N, C, H, W), w (O, C/groups, KH, KW), y (N, O, OH, OW), with
    /// the shapes taken from the operands as given (the caller checked them) and each operand's own offset and strides.</summary>
    private static ConvArgs Args(Tensor x, Tensor w, Tensor y, in Conv2dParams p, Tensor? written)
    {
        if (x.Rank != 4 || w.Rank != 4 || y.Rank != 4)
            throw new ArgumentException($"Conv2d: input {ShapeUtil.Format(x.Shape)}, weight {ShapeUtil.Format(w.Shape)} and output {ShapeUtil.Format(y.Shape)} must all be 4-D.");
        int groups = p.Groups;
        var a = new ConvArgs
        {
            N = x.Size(0), C = x.Size(1), H = x.Size(2), W = x.Size(3),
            O = w.Size(0), KH = w.Size(2), KW = w.Size(3), OH = y.Size(2), OW = y.Size(3),
            SH = p.StrideH, SW = p.StrideW, PH = p.PadH, PW = p.PadW, DH = p.DilationH, DW = p.DilationW,
            Cg = w.Size(1), Og = w.Size(0) / groups,
            XOff = x.Offset, XsN = x.Stride(0), XsC = x.Stride(1), XsH = x.Stride(2), XsW = x.Stride(3),
            WOff = w.Offset, WsO = w.Stride(0), WsC = w.Stride(1), WsH = w.Stride(2), WsW = w.Stride(3),
            YOff = y.Offset, YsN = y.Stride(0), YsC = y.Stride(1), YsH = y.Stride(2), YsW = y.Stride(3),
        };
        if (a.Cg * groups != a.C || a.Og * groups != a.O || y.Size(1) != a.O || y.Size(0) != a.N)
            throw new ArgumentException($"Conv2d: input {ShapeUtil.Format(x.Shape)}, weight {ShapeUtil.Format(w.Shape)} and output {ShapeUtil.Format(y.Shape)} do not fit groups={groups}.");
        // Walk the written activation in its memory order: consecutive threads then store to consecutive addresses.
        if (written is not null) a.ChannelsLast = written.Size(1) > 1 && written.Stride(1) == 1 && !(written.Size(3) > 1 && written.Stride(3) == 1) ? 1 : 0;
        return a;
    }

    private string Detail(in ConvArgs a) => Profile is null ? ""
        : $"x=({a.N},{a.C},{a.H},{a.W}) w=({a.O},{a.Cg},{a.KH},{a.KW}) y=({a.OH},{a.OW}) s=({a.SH},{a.SW}) p=({a.PH},{a.PW}) d=({a.DH},{a.DW}) g={a.C / Math.Max(a.Cg, 1)}{(a.ChannelsLast != 0 ? " cl" : "")}";
}
