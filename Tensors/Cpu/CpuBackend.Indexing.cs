namespace Sparkle.Tensors.Cpu;

public sealed partial class CpuBackend
{
    public void IndexSelect(Tensor x, int dim, Tensor index, Tensor dst) => throw new NotSupportedException("pending: indexing");
    public void Gather(Tensor x, int dim, Tensor index, Tensor dst) => throw new NotSupportedException("pending: indexing");
    public void ScatterAdd(Tensor dst, int dim, Tensor index, Tensor src) => throw new NotSupportedException("pending: indexing");
}
