using ILGPU;
using ILGPU.Runtime;
using Sparkle.Gpu.Kernels;
using Sparkle.Tensors;
using Sparkle.Tensors.Backend;

namespace Sparkle.Gpu;

/// <summary>Training-mode batch norm (IBackend.BatchNormTrainForward/Backward) in NormKernels: three launches forward
/// (chunk statistics, channel statistics + running update, normalise + activation), two or three backward (chunk sums,
/// channel sums + gWeight/gBias + dx coefficients, dx), no host read. Planes and rows share the kernels (rows are planes
/// with Inner = 1).</summary>
public sealed partial class IlgpuBackend
{
    /// <summary>Values per channel from which a channel's statistics are split over several thread groups (default
    /// 4,096): fewer, and one group per channel runs them (C groups are enough to fill the device for typical C);
    /// more, and about 1024 groups in all share the work (at least 16 elements per thread, at most 256 parts per
    /// channel). Tests lower it to reach the split path on small tensors.</summary>
    public int BatchNormSplitMinCount { get; set; } = 4096;

    private static ArrayView1D<T, Stride1D.Dense> Elements<T>(Tensor t) where T : unmanaged
        => View<T>(t).SubView(t.Offset, Math.Max(1, t.NumElements));

    private BatchNormGeometry NormGeometry(BatchNormShape s, int g, Activation act, double eps, double momentum,
        bool weight, bool bias, bool running, bool gWeight, bool gBias)
    {
        int count = s.Count, parts = 1;
        if (count >= BatchNormSplitMinCount)
            parts = Math.Clamp(Math.Min((1024 + s.Channels - 1) / s.Channels, (count + 16 * g - 1) / (16 * g)), 1, NormKernels.MaxGroup);
        int chunk = (count + parts - 1) / parts;
        parts = (count + chunk - 1) / chunk;                              // no empty chunk
        return new BatchNormGeometry(s.Batch, s.Channels, s.Inner, parts, chunk, (int)act, weight ? 1 : 0, bias ? 1 : 0, running ? 1 : 0,
            gWeight ? 1 : 0, gBias ? 1 : 0, eps, momentum);
    }

    public void BatchNormTrainForward(Tensor x, Tensor? weight, Tensor? bias, double eps, Activation act, Tensor y, Tensor saveMean, Tensor saveInvStd,
        Tensor? runningMean = null, Tensor? runningVar = null, double momentum = 0.1)
    {
        var s = BatchNormShape.Of(x);
        if (x.DType == DType.Float32) BnForward<float, F32>(x, weight, bias, eps, act, y, saveMean, saveInvStd, runningMean, runningVar, momentum, s);
        else BnForward<double, F64>(x, weight, bias, eps, act, y, saveMean, saveInvStd, runningMean, runningVar, momentum, s);
    }

    public void BatchNormTrainBackward(Tensor gy, Tensor x, Tensor? y, Tensor? weight, Tensor saveMean, Tensor saveInvStd, Activation act,
        Tensor? gx, Tensor? gWeight, Tensor? gBias)
    {
        var s = BatchNormShape.Of(x);
        if (x.DType == DType.Float32) BnBackward<float, F32>(gy, x, y, weight, saveMean, saveInvStd, act, gx, gWeight, gBias, s);
        else BnBackward<double, F64>(gy, x, y, weight, saveMean, saveInvStd, act, gx, gWeight, gBias, s);
    }

    private void BnForward<T, TE>(Tensor x, Tensor? weight, Tensor? bias, double eps, Activation act, Tensor y, Tensor saveMean, Tensor saveInvStd,
        Tensor? runningMean, Tensor? runningVar, double momentum, BatchNormShape s)
        where T : unmanaged where TE : struct, IElement<T>
    {
        if (s.Channels == 0) return;
        int g = ReduceGroup();
        bool running = runningMean is not null && runningVar is not null;
        var geo = NormGeometry(s, g, act, eps, momentum, weight is not null, bias is not null, running, false, false);
        var xv = Elements<T>(x);
        var yv = Elements<T>(y);
        var mv = Elements<double>(saveMean);
        var iv = Elements<double>(saveInvStd);
        var wv = weight is null ? xv : Elements<T>(weight);              // unread placeholders when absent
        var bv = bias is null ? xv : Elements<T>(bias);
        var rmv = running ? Elements<T>(runningMean!) : yv;
        var rvv = running ? Elements<T>(runningVar!) : yv;
        using var partials = New<double>(DType.Float64, 2 * s.Channels * geo.Parts, zeroed: false);
        var pv = partials.View;
        var stats = (Action<KernelConfig, ArrayView1D<T, Stride1D.Dense>, ArrayView1D<double, Stride1D.Dense>, BatchNormGeometry>)
            _groupReduceKernels.GetOrAdd(("bn-stats", typeof(T)), _ => _accelerator.LoadStreamKernel<ArrayView1D<T, Stride1D.Dense>,
                ArrayView1D<double, Stride1D.Dense>, BatchNormGeometry>(NormKernels.StatsPartial<T, TE>));
        var finish = (Action<KernelConfig, ArrayView1D<double, Stride1D.Dense>, ArrayView1D<double, Stride1D.Dense>, ArrayView1D<double, Stride1D.Dense>,
            ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, BatchNormGeometry>)
            _groupReduceKernels.GetOrAdd(("bn-stats-finish", typeof(T)), _ => _accelerator.LoadStreamKernel<ArrayView1D<double, Stride1D.Dense>,
                ArrayView1D<double, Stride1D.Dense>, ArrayView1D<double, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>,
                BatchNormGeometry>(NormKernels.StatsFinish<T, TE>));
        string detail = Profile is null ? "" : $"x {ShapeUtil.Format(x.Shape)}, {geo.Parts} parts per channel";
        lock (_gate)
        {
            Timed("BatchNorm(stats)", (long)s.Channels * geo.Parts * g, detail,
                () => stats(new KernelConfig(new Index1D(s.Channels * geo.Parts), new Index1D(g)), xv, pv, geo));
            Timed("BatchNorm(stats 2)", (long)s.Channels * g, detail,
                () => finish(new KernelConfig(new Index1D(s.Channels), new Index1D(g)), pv, mv, iv, rmv, rvv, geo));
        }
        Launch(x.NumElements, i => _kernels.Get<ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, ArrayView1D<double, Stride1D.Dense>,
            ArrayView1D<double, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, BatchNormGeometry>(
            NormKernels.Normalize<T, TE>)(i, xv, yv, mv, iv, wv, bv, geo), detail, "BatchNorm(normalize)");
    }

    private void BnBackward<T, TE>(Tensor gy, Tensor x, Tensor? y, Tensor? weight, Tensor saveMean, Tensor saveInvStd, Activation act,
        Tensor? gx, Tensor? gWeight, Tensor? gBias, BatchNormShape s)
        where T : unmanaged where TE : struct, IElement<T>
    {
        if (s.Channels == 0) return;
        int g = ReduceGroup();
        var geo = NormGeometry(s, g, act, 0, 0, weight is not null, false, false, gWeight is not null, gBias is not null);
        var gv = Elements<T>(gy);
        var xv = Elements<T>(x);
        var yv = act == Activation.None ? xv : Elements<T>(y ?? throw new ArgumentNullException(nameof(y), $"BatchNorm backward with {act} reads the forward's output."));
        var mv = Elements<double>(saveMean);
        var iv = Elements<double>(saveInvStd);
        var wv = weight is null ? xv : Elements<T>(weight);
        var gwv = gWeight is null ? xv : Elements<T>(gWeight);           // unwritten placeholders when not asked
        var gbv = gBias is null ? xv : Elements<T>(gBias);
        using var partials = New<double>(DType.Float64, 2 * s.Channels * geo.Parts, zeroed: false);
        using var coef = New<double>(DType.Float64, 3 * s.Channels, zeroed: false);
        var pv = partials.View;
        var cv = coef.View;
        var sums = (Action<KernelConfig, ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>,
            ArrayView1D<double, Stride1D.Dense>, ArrayView1D<double, Stride1D.Dense>, BatchNormGeometry>)
            _groupReduceKernels.GetOrAdd(("bn-grad", typeof(T)), _ => _accelerator.LoadStreamKernel<ArrayView1D<T, Stride1D.Dense>,
                ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, ArrayView1D<double, Stride1D.Dense>, ArrayView1D<double, Stride1D.Dense>,
                BatchNormGeometry>(NormKernels.GradPartial<T, TE>));
        var finish = (Action<KernelConfig, ArrayView1D<double, Stride1D.Dense>, ArrayView1D<double, Stride1D.Dense>, ArrayView1D<double, Stride1D.Dense>,
            ArrayView1D<T, Stride1D.Dense>, ArrayView1D<double, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, BatchNormGeometry>)
            _groupReduceKernels.GetOrAdd(("bn-grad-finish", typeof(T)), _ => _accelerator.LoadStreamKernel<ArrayView1D<double, Stride1D.Dense>,
                ArrayView1D<double, Stride1D.Dense>, ArrayView1D<double, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, ArrayView1D<double, Stride1D.Dense>,
                ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, BatchNormGeometry>(NormKernels.GradFinish<T, TE>));
        string detail = Profile is null ? "" : $"x {ShapeUtil.Format(x.Shape)}, {geo.Parts} parts per channel";
        lock (_gate)
        {
            Timed("BatchNormBackward(sums)", (long)s.Channels * geo.Parts * g, detail,
                () => sums(new KernelConfig(new Index1D(s.Channels * geo.Parts), new Index1D(g)), gv, xv, yv, mv, pv, geo));
            Timed("BatchNormBackward(sums 2)", (long)s.Channels * g, detail,
                () => finish(new KernelConfig(new Index1D(s.Channels), new Index1D(g)), pv, mv, iv, wv, cv, gwv, gbv, geo));
        }
        if (gx is null) return;
        var gxv = Elements<T>(gx);
        Launch(x.NumElements, i => _kernels.Get<ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>,
            ArrayView1D<double, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, BatchNormGeometry>(
            NormKernels.InputGrad<T, TE>)(i, gv, xv, yv, cv, gxv, geo), detail, "BatchNormBackward(dx)");
    }
}
