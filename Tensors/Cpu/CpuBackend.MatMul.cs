namespace Sparkle.Tensors.Cpu;

public sealed partial class CpuBackend
{
    public void MatMul(Tensor a, Tensor b, Tensor dst, bool accumulate = false) => throw new NotSupportedException("pending: gemm");
}
