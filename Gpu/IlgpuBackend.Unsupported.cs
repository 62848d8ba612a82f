using Sparkle.Tensors;
using Sparkle.Tensors.Backend;

namespace Sparkle.Gpu;

/// <summary>Seam methods this first slice of the ILGPU backend does not implement yet (docs/gpu.md). They throw
/// rather than fall back to the host, so a model that needs them fails at once with the op's name.</summary>
public sealed partial class IlgpuBackend
{
    private static NotSupportedException Missing(string op) =>
        new($"{op} is not implemented by the ILGPU backend yet; run this op on the CPU (tensor.To(Device.Cpu)).");

    public void Reduce(ReduceOp op, Tensor x, ReadOnlySpan<int> axes, Tensor dst, int correction = 0) => throw Missing($"Reduce({op})");
    public void ArgReduce(ArgReduceOp op, Tensor x, int axis, Tensor dst) => throw Missing($"ArgReduce({op})");
    public void MatMul(Tensor a, Tensor b, Tensor dst, bool accumulate = false) => throw Missing("MatMul");
    public void IndexSelect(Tensor x, int dim, Tensor index, Tensor dst) => throw Missing("IndexSelect");
    public void Gather(Tensor x, int dim, Tensor index, Tensor dst) => throw Missing("Gather");
    public void ScatterAdd(Tensor dst, int dim, Tensor index, Tensor src) => throw Missing("ScatterAdd");
}
