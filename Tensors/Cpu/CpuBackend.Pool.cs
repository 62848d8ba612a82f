using Sparkle.Tensors.Backend;
using Sparkle.Tensors.Cpu.Pool;

namespace Sparkle.Tensors.Cpu;

public sealed partial class CpuBackend
{
    /// <summary>See <see cref="IBackend.MaxPool2dForward"/>; kernel in Tensors/Cpu/Pool.</summary>
    public void MaxPool2dForward(Tensor x, int kernel, int stride, int padding, Tensor y, Tensor? winners)
    {
        switch (x.DType)
        {
            case DType.Float32: MaxPool2dCpu<float>.Forward(x, kernel, stride, padding, y, winners); break;
            case DType.Float64: MaxPool2dCpu<double>.Forward(x, kernel, stride, padding, y, winners); break;
            default: throw new NotSupportedException($"MaxPool2d supports float32 and float64, not {x.DType.Name()}.");
        }
    }

    /// <summary>See <see cref="IBackend.MaxPool2dBackward"/>.</summary>
    public void MaxPool2dBackward(Tensor gy, Tensor winners, int kernel, int stride, int padding, Tensor gx)
    {
        switch (gx.DType)
        {
            case DType.Float32: MaxPool2dCpu<float>.Backward(gy, winners, gx); break;
            case DType.Float64: MaxPool2dCpu<double>.Backward(gy, winners, gx); break;
            default: throw new NotSupportedException($"MaxPool2d supports float32 and float64, not {gx.DType.Name()}.");
        }
    }
}
