using Sparkle.Tensors.Backend;
using Sparkle.Tensors.Cpu.Conv;

namespace Sparkle.Tensors.Cpu;

public sealed partial class CpuBackend
{
    /// <summary>See <see cref="IBackend.Conv2dForward"/>; kernels in Tensors/Cpu/Conv (docs/conv.md).</summary>
    public void Conv2dForward(Tensor input, Tensor weight, Tensor? bias, Tensor dst, in Conv2dParams p)
    {
        switch (dst.DType)
        {
            case DType.Float32: ConvCpu<float>.Forward(input, weight, bias, dst, p, Options); break;
            case DType.Float64: ConvCpu<double>.Forward(input, weight, bias, dst, p, Options); break;
            default: throw new NotSupportedException($"Conv2d supports float32 and float64, not {dst.DType.Name()}.");
        }
    }

    /// <summary>See <see cref="IBackend.Conv2dBackwardInput"/>.</summary>
    public void Conv2dBackwardInput(Tensor gradOutput, Tensor weight, Tensor gradInput, in Conv2dParams p)
    {
        switch (gradInput.DType)
        {
            case DType.Float32: ConvCpu<float>.BackwardInput(gradOutput, weight, gradInput, p, Options); break;
            case DType.Float64: ConvCpu<double>.BackwardInput(gradOutput, weight, gradInput, p, Options); break;
            default: throw new NotSupportedException($"Conv2d supports float32 and float64, not {gradInput.DType.Name()}.");
        }
    }

    /// <summary>See <see cref="IBackend.Conv2dBackwardWeight"/>.</summary>
    public void Conv2dBackwardWeight(Tensor gradOutput, Tensor input, Tensor gradWeight, in Conv2dParams p)
    {
        switch (gradWeight.DType)
        {
            case DType.Float32: ConvCpu<float>.BackwardWeight(gradOutput, input, gradWeight, p, Options); break;
            case DType.Float64: ConvCpu<double>.BackwardWeight(gradOutput, input, gradWeight, p, Options); break;
            default: throw new NotSupportedException($"Conv2d supports float32 and float64, not {gradWeight.DType.Name()}.");
        }
    }
}
