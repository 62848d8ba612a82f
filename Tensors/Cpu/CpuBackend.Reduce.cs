using Sparkle.Tensors.Backend;

namespace Sparkle.Tensors.Cpu;

public sealed partial class CpuBackend
{
    public void Reduce(ReduceOp op, Tensor x, ReadOnlySpan<int> axes, Tensor dst, int correction = 0) => throw new NotSupportedException("pending: reduce");
    public void ArgReduce(ArgReduceOp op, Tensor x, int axis, Tensor dst) => throw new NotSupportedException("pending: reduce");
}
