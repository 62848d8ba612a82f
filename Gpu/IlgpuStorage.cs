using ILGPU;
using ILGPU.Runtime;
using Sparkle.Gpu.Memory;
using Sparkle.Tensors;
using Sparkle.Tensors.Backend;

namespace Sparkle.Gpu;

/// <summary>Device memory of one tensor storage, rented from its backend's pool (docs/gpu.md, "Memory"). Dispose gives the
/// block back to the pool now (every tensor that views this storage becomes unusable); otherwise the finalizer gives it
/// back once no tensor references the storage.</summary>
public abstract class IlgpuStorage : Storage, IDisposable
{
    public abstract void Dispose();
    /// <summary>True once the block went back to the pool.</summary>
    public abstract bool IsDisposed { get; }
}

/// <summary>A dense 1-D view of T over a pooled byte block. T is the device element type: float, double, int, long, or byte
/// for bool (0/1, the host bool layout). Zero-length storages view one element, since ILGPU views need one.</summary>
public sealed class IlgpuStorage<T> : IlgpuStorage where T : unmanaged
{
    private readonly IlgpuBackend _backend;
    private readonly int _length;
    private readonly ArrayView1D<T, Stride1D.Dense> _view;
    private DeviceBlock? _block;

    internal IlgpuStorage(IlgpuBackend backend, DType dtype, DeviceBlock block, int length)
    {
        _backend = backend;
        DType = dtype;
        _block = block;
        _length = length;
        ArrayView<byte> bytes = block.Buffer.View;
        _view = bytes.Cast<T>().SubView(0, Math.Max(length, 1));
    }

    /// <summary>The device elements; throws once the storage was disposed.</summary>
    public ArrayView1D<T, Stride1D.Dense> View => _block is not null ? _view
        : throw new ObjectDisposedException(nameof(IlgpuStorage), $"This {DType.Name()} storage of {_length} elements on {_backend.Device} was released (GpuMemory.Release / Dispose) and its memory reused.");

    public override IBackend Backend => _backend;
    public override DType DType { get; }
    public override int Length => _length;
    public override bool IsDisposed => _block is null;

    public override void Dispose()
    {
        if (Interlocked.Exchange(ref _block, null) is { } b)
        {
            _backend.Pool.Return(b);
            GC.SuppressFinalize(this);
        }
    }

    /// <summary>Last resort: the block goes back to the pool (a lock-free enqueue; no device call on this thread).</summary>
    ~IlgpuStorage()
    {
        if (Interlocked.Exchange(ref _block, null) is { } b) _backend.Pool.Return(b);
    }
}
