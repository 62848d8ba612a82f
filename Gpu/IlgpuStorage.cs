using ILGPU;
using ILGPU.Runtime;
using Sparkle.Tensors;
using Sparkle.Tensors.Backend;

namespace Sparkle.Gpu;

/// <summary>Device memory of one tensor storage. Dispose frees it now; otherwise ILGPU frees it when the
/// buffer is finalised or the accelerator is disposed.</summary>
public abstract class IlgpuStorage : Storage, IDisposable
{
    public abstract void Dispose();
}

/// <summary>A dense 1-D buffer of T. T is the device element type: float, double, int, long, or byte for bool
/// (0/1, the host bool layout). Zero-length storages hold a one-element buffer, since ILGPU views need one.</summary>
public sealed class IlgpuStorage<T> : IlgpuStorage where T : unmanaged
{
    private readonly IlgpuBackend _backend;
    private readonly int _length;

    internal IlgpuStorage(IlgpuBackend backend, DType dtype, MemoryBuffer1D<T, Stride1D.Dense> buffer, int length)
    {
        _backend = backend;
        DType = dtype;
        Buffer = buffer;
        _length = length;
    }

    public MemoryBuffer1D<T, Stride1D.Dense> Buffer { get; }
    public ArrayView1D<T, Stride1D.Dense> View => Buffer.View;
    public override IBackend Backend => _backend;
    public override DType DType { get; }
    public override int Length => _length;
    public override void Dispose() => Buffer.Dispose();
}
