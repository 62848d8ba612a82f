using Sparkle.Tensors.Backend;
using Sparkle.Tensors.Cpu.Elementwise;

namespace Sparkle.Tensors.Cpu;

/// <summary>Elementwise ops: see Cpu/Elementwise (op structs, drivers per loop shape, dispatch).</summary>
public sealed partial class CpuBackend
{
    public void Unary(UnaryOp op, Tensor x, Tensor dst, double p0 = 0, double p1 = 0) => ElementwiseDispatch.Unary(op, x, dst, p0, p1, Options.Width);
    public void Binary(BinaryOp op, Tensor a, Tensor b, Tensor dst) => ElementwiseDispatch.Binary(op, a, b, dst, Options.Width);
    public void Where(Tensor cond, Tensor a, Tensor b, Tensor dst) => ElementwiseDispatch.Where(cond, a, b, dst, Options.Width);
}
