using Sparkle.Tensors.Backend;

namespace Sparkle.Tensors.Cpu;

/// <summary>Host storage: a managed array of T (bool is stored as one byte per element).</summary>
public class CpuStorage<T> : Storage where T : unmanaged
{
    public CpuStorage(T[] data) { Data = data; }
    public T[] Data { get; }
    public override IBackend Backend => CpuBackend.Instance;
    public override DType DType { get; } = DTypes.Of<T>();
    public override int Length => Data.Length;
}
