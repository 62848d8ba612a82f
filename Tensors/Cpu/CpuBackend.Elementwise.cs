using Sparkle.Tensors.Backend;

namespace Sparkle.Tensors.Cpu;

public sealed partial class CpuBackend
{
    public void Unary(UnaryOp op, Tensor x, Tensor dst, double p0 = 0, double p1 = 0) => throw new NotSupportedException("pending: elementwise");
    public void Binary(BinaryOp op, Tensor a, Tensor b, Tensor dst) => throw new NotSupportedException("pending: elementwise");
    public void Where(Tensor cond, Tensor a, Tensor b, Tensor dst) => throw new NotSupportedException("pending: elementwise");
}
