using Sparkle.Tensors.Backend;

namespace Sparkle.Tensors.Cpu;

/// <summary>Host storage: a managed array of T (bool is stored as one byte per element). It belongs to the default
/// CPU backend unless a backend with other kernel options made it (<see cref="CpuBackend.WithOptions"/>).</summary>
public class CpuStorage<T> : Storage where T : unmanaged
{
    private readonly CpuBackend? _backend;
    private readonly Storage? _owner;

    public CpuStorage(T[] data) { Data = data; }

    /// <summary>A storage of <paramref name="backend"/> (null = the default one) over <paramref name="data"/>;
    /// <paramref name="owner"/>, when the array belongs to another storage (a pooled one returns its array when it
    /// dies), is kept alive as long as this one.</summary>
    internal CpuStorage(T[] data, CpuBackend? backend, Storage? owner = null)
    {
        Data = data;
        _backend = backend;
        _owner = owner;
    }

    public T[] Data { get; }
    public override IBackend Backend => _backend ?? CpuBackend.Instance;
    public override DType DType { get; } = DTypes.Of<T>();
    public override int Length => Data.Length;
}
