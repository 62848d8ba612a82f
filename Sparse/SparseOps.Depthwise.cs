using System.Numerics;
using System.Runtime.Intrinsics;
using Sparkle.Autograd;
using Sparkle.Sparse.Kernels;
using Sparkle.Tensors;

namespace Sparkle.Sparse;

public static partial class SparseOps
{
    /// <summary>Kernel-path switches for tests (per calling thread): force the row (gather-GEMM-scatter) paths.</summary>
    internal static class Paths
    {
        [ThreadStatic] private static bool _fallback;

        /// <summary>When set, depthwise and pointwise convolutions take the row paths instead of the plane kernels.</summary>
        public static bool Fallback { get => _fallback; set => _fallback = value; }
    }

    /// <summary>Depthwise, stride 1, "same" padding (output map = input map), channels-first input with unit W stride.</summary>
    private static bool DepthwisePlaneApplies(Tensor input, int o, int groups, ConvGeometry g)
        => !Paths.Fallback && IsDepthwise(input.Size(1), o, groups) && g.StrideH == 1 && g.StrideW == 1
           && 2 * g.PadH == (g.KernelH - 1) * g.DilationH && 2 * g.PadW == (g.KernelW - 1) * g.DilationW
           && input.Stride(3) == 1 && !RowIO.IsChannelsLast(input);

    private static Tensor DepthwisePlaneT<T>(Tensor input, Tensor weight, Tensor? bias, ConvGeometry geo, SparseContext ctx)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = input.Size(0), c = input.Size(1), h = input.Size(2), w = input.Size(3);
        var runs = ctx.PlaneRuns(h, w, Vector256<T>.Count);
        var g = new DepthwisePlanes.Geo(geo.KernelH, geo.KernelW, geo.DilationH, geo.DilationW, geo.PadH, geo.PadW);
        var wt = WeightRef<T>.Of(weight);
        T[]? bArr = bias?.ToArray<T>();
        var y = Tensor.Empty([n, c, h, w], input.DType);
        DepthwisePlanes.Forward(RowIO.Data<T>(input), input.Offset, input.Stride(0), input.Stride(1), input.Stride(2), runs, c, wt.Data, wt.Offset, g,
            flip: false, bArr, RowIO.Data<T>(y));
        if (!Differentiable.NeedsGrad(input, weight, bias)) return y;
        bool gx = input.RequiresGrad, gw = weight.RequiresGrad, gb = bias?.RequiresGrad == true;
        int[] wShape = weight.ShapeArray();
        Tensor? savedX = gw ? input.Detach() : null;
        return Differentiable.Record("SparseConv2d", y, [input, weight, bias], gy =>
        {
            if (gy.Stride(3) != 1) gy = gy.Contiguous();
            var dyArr = RowIO.Data<T>(gy);
            int o0 = gy.Offset, s0 = gy.Stride(0), s1 = gy.Stride(1), s2 = gy.Stride(2);
            Tensor? dx = null, dwt = null, db = null;
            if (gx) dx = Tensor.Empty([n, c, h, w], input.DType);
            if (gw) dwt = Tensor.Empty(wShape, input.DType);   // written in place by the kernel
            if (gx || gw)
                DepthwisePlanes.Backward(dyArr, o0, s0, s1, s2,
                    gw ? RowIO.Data<T>(savedX!) : null, savedX?.Offset ?? 0, savedX?.Stride(0) ?? 0, savedX?.Stride(1) ?? 0, savedX?.Stride(2) ?? 0,
                    runs, c, wt.Data, wt.Offset, g, gx ? RowIO.Data<T>(dx!) : null, gw ? RowIO.Data<T>(dwt!) : null, dwt?.Offset ?? 0);
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
                                acc += System.Numerics.Tensors.TensorPrimitives.Sum<T>(
                                    dyArr.AsSpan(o0 + b * s0 + ch * s1 + yy * s2 + runs.X0[e], runs.X1[e] - runs.X0[e]));
                        }
                    s[ch] = acc;
                }
                db = Tensor.FromArray(s, [c]);
            }
            return [dx, dwt, db];
        }, input, weight);
    }
}
