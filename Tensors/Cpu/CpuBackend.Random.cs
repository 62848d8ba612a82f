using Sparkle.Tensors.Backend;

namespace Sparkle.Tensors.Cpu;

public sealed partial class CpuBackend
{
    public void Random(RandomSpec spec, Tensor dst, ulong seed, ulong offset) => throw new NotSupportedException("pending: random");
}
