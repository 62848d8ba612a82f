using Sparkle.Tensors.Backend;
using Sparkle.Tensors.Cpu.Reduce;

namespace Sparkle.Tensors.Cpu;

/// <summary>Reductions: see Cpu/Reduce (plan, kernels, driver).</summary>
public sealed partial class CpuBackend
{
    public void Reduce(ReduceOp op, Tensor x, ReadOnlySpan<int> axes, Tensor dst, int correction = 0) => ReduceDispatch.Reduce(op, x, axes, dst, correction, Options.Width);
    public void ArgReduce(ArgReduceOp op, Tensor x, int axis, Tensor dst) => ReduceDispatch.ArgReduce(op, x, axis, dst);
}
