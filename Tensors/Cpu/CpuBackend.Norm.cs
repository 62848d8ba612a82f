using Sparkle.Tensors.Backend;
using Sparkle.Tensors.Cpu.Norm;

namespace Sparkle.Tensors.Cpu;

public sealed partial class CpuBackend
{
    /// <summary>See <see cref="IBackend.BatchNormTrainForward"/>; kernels in Tensors/Cpu/Norm: rank-2 rows
    /// (BatchNormRows) or (N, C, *) planes (BatchNormPlanes).</summary>
    public void BatchNormTrainForward(Tensor x, Tensor? weight, Tensor? bias, double eps, Activation act, Tensor y, Tensor saveMean, Tensor saveInvStd,
        Tensor? runningMean = null, Tensor? runningVar = null, double momentum = 0.1)
    {
        var s = BatchNormShape.Of(x);
        bool rows = x.Rank == 2;
        switch (x.DType)
        {
            case DType.Float32 when rows: BatchNormRows<float>.Forward(x, weight, bias, eps, act, y, saveMean, saveInvStd, runningMean, runningVar, momentum, s); break;
            case DType.Float64 when rows: BatchNormRows<double>.Forward(x, weight, bias, eps, act, y, saveMean, saveInvStd, runningMean, runningVar, momentum, s); break;
            case DType.Float32: BatchNormPlanes<float>.Forward(x, weight, bias, eps, act, y, saveMean, saveInvStd, runningMean, runningVar, momentum, s); break;
            default: BatchNormPlanes<double>.Forward(x, weight, bias, eps, act, y, saveMean, saveInvStd, runningMean, runningVar, momentum, s); break;
        }
    }

    /// <summary>See <see cref="IBackend.BatchNormTrainBackward"/>.</summary>
    public void BatchNormTrainBackward(Tensor gy, Tensor x, Tensor? y, Tensor? weight, Tensor saveMean, Tensor saveInvStd, Activation act,
        Tensor? gx, Tensor? gWeight, Tensor? gBias)
    {
        var s = BatchNormShape.Of(x);
        bool rows = x.Rank == 2;
        switch (x.DType)
        {
            case DType.Float32 when rows: BatchNormRows<float>.Backward(gy, x, y, weight, saveMean, saveInvStd, act, gx, gWeight, gBias, s); break;
            case DType.Float64 when rows: BatchNormRows<double>.Backward(gy, x, y, weight, saveMean, saveInvStd, act, gx, gWeight, gBias, s); break;
            case DType.Float32: BatchNormPlanes<float>.Backward(gy, x, y, weight, saveMean, saveInvStd, act, gx, gWeight, gBias, s); break;
            default: BatchNormPlanes<double>.Backward(gy, x, y, weight, saveMean, saveInvStd, act, gx, gWeight, gBias, s); break;
        }
    }
}
