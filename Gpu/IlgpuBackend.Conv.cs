using Sparkle.Tensors;
using Sparkle.Tensors.Backend;

namespace Sparkle.Gpu;

/// <summary>
/// Convolution on the device through the seam-primitive implementation (im2col by strided copies, batched GEMM, col2im
/// by strided adds: Tensors/Backend/SeamConv.cs). Correct for every stride, padding, dilation and group count; dedicated
/// implicit-GEMM and depthwise kernels are the next step for speed (issue 8).
/// </summary>
public sealed partial class IlgpuBackend
{
    public void Conv2dForward(Tensor input, Tensor weight, Tensor? bias, Tensor dst, in Conv2dParams p) => SeamConv.Forward(input, weight, bias, dst, p);
    public void Conv2dBackwardInput(Tensor gradOutput, Tensor weight, Tensor gradInput, in Conv2dParams p) => SeamConv.BackwardInput(gradOutput, weight, gradInput, p);
    public void Conv2dBackwardWeight(Tensor gradOutput, Tensor input, Tensor gradWeight, in Conv2dParams p) => SeamConv.BackwardWeight(gradOutput, input, gradWeight, p);
}
