using ILGPU;
using ILGPU.Runtime;
using Sparkle.Gpu.Kernels;
using Sparkle.Gpu.Memory;
using Sparkle.Tensors;
using Sparkle.Tensors.Backend;
using Device = Sparkle.Tensors.Device;

namespace Sparkle.Gpu;

/// <summary>
/// The ILGPU backend behind the device seam (DESIGN.md §2.4). One instance owns one ILGPU context and
/// accelerator. Partial files by op family: this one holds creation, storage, transfers, copy/cast and fill;
/// IlgpuBackend.Elementwise/Reduce/Indexing/MatMul/Random.cs the rest. Kernels live in Gpu/Kernels.
/// Launches are serialised by a lock: ILGPU streams are not meant to be driven from several threads at once.
/// </summary>
public sealed partial class IlgpuBackend : IBackend, IDisposable
{
    private readonly Context _context;
    private readonly Accelerator _accelerator;
    private readonly KernelCache _kernels;
    private readonly object _gate = new();

    private IlgpuBackend(Context context, Accelerator accelerator, Device device)
    {
        _context = context;
        _accelerator = accelerator;
        _kernels = new KernelCache(accelerator);
        Pool = new DevicePool(accelerator);
        Device = device;
    }

    /// <summary>Opens device <paramref name="index"/> of <paramref name="kind"/> (Cuda, OpenCL or IlgpuCpu, the
    /// CPU simulator for tests) and registers it in <see cref="Backends"/>, so tensors can be moved there with
    /// <c>To(new Device(kind, index))</c>.</summary>
    public static IlgpuBackend Create(DeviceKind kind, int index = 0)
    {
        var (context, device) = DeviceSelection.Open(kind, index);
        var backend = new IlgpuBackend(context, device.CreateAccelerator(context), new Device(kind, index));
        Backends.Register(backend);
        GpuMemory.Register(backend);
        return backend;
    }

    public Device Device { get; }
    public Accelerator Accelerator => _accelerator;
    /// <summary>Downloads to the host so far (each waits for the device): steady-state training should need one per step
    /// (the loss), and no op should add any.</summary>
    public long HostReads { get; private set; }
    /// <summary>Kernel instantiations compiled so far (each is compiled once, on first use).</summary>
    public int CompiledKernels => _kernels.Count;

    public void Dispose()
    {
        GpuMemory.Unregister(this);
        _accelerator.Dispose();
        _context.Dispose();
    }

    // ---- storage ----

    public Storage Allocate(DType dtype, int length, bool zeroed = true) => dtype switch
    {
        DType.Float32 => New<float>(dtype, length, zeroed),
        DType.Float64 => New<double>(dtype, length, zeroed),
        DType.Int32 => New<int>(dtype, length, zeroed),
        DType.Int64 => New<long>(dtype, length, zeroed),
        DType.Bool => New<byte>(dtype, length, zeroed),
        _ => throw new ArgumentOutOfRangeException(nameof(dtype)),
    };

    /// <summary>A storage on a pooled block. Not zeroed: contents are whatever the block held (a previous tensor's
    /// values, or 0xFF bytes when <see cref="PoisonUninitialized"/> is on) — exactly what a fresh CUDA buffer gives.</summary>
    private IlgpuStorage<T> New<T>(DType dtype, int length, bool zeroed, bool poison = true) where T : unmanaged
    {
        lock (_gate)
        {
            long bytes = (long)Math.Max(length, 1) * Interop.SizeOf<T>();
            var s = new IlgpuStorage<T>(this, dtype, Pool.Rent(bytes), length);
            if (zeroed) { s.View.MemSetToZero(); Launches++; }
            else if (poison && Pool.Poison) s.View.MemSet(0xFF);
            return s;
        }
    }

    public Storage FromHost<T>(ReadOnlySpan<T> data) where T : unmanaged
    {
        var dtype = DTypes.Of<T>();
        if (dtype == DType.Bool) return Upload(dtype, System.Runtime.InteropServices.MemoryMarshal.Cast<T, byte>(data));
        return Upload(dtype, data);
    }

    private IlgpuStorage<TD> Upload<TD>(DType dtype, ReadOnlySpan<TD> data) where TD : unmanaged
    {
        var s = New<TD>(dtype, data.Length, zeroed: false, poison: false);
        lock (_gate) s.View.SubView(0, data.Length).AsContiguous().CopyFromCPU(data);
        return s;
    }

    public void CopyToHost<T>(Tensor src, Span<T> dst) where T : unmanaged
    {
        switch (src.DType)
        {
            case DType.Float32: Download<float>(src, System.Runtime.InteropServices.MemoryMarshal.Cast<T, float>(dst)); break;
            case DType.Float64: Download<double>(src, System.Runtime.InteropServices.MemoryMarshal.Cast<T, double>(dst)); break;
            case DType.Int32: Download<int>(src, System.Runtime.InteropServices.MemoryMarshal.Cast<T, int>(dst)); break;
            case DType.Int64: Download<long>(src, System.Runtime.InteropServices.MemoryMarshal.Cast<T, long>(dst)); break;
            case DType.Bool: Download<byte>(src, System.Runtime.InteropServices.MemoryMarshal.Cast<T, byte>(dst)); break;
        }
    }

    /// <summary>Contiguous views copy straight out; others are first gathered into a temporary contiguous buffer.</summary>
    private void Download<TD>(Tensor src, Span<TD> dst) where TD : unmanaged
    {
        int n = src.NumElements;
        if (n == 0) return;
        if (src.IsContiguous)
        {
            lock (_gate)
            {
                HostReads++;
                RaisePendingErrors();
                _accelerator.Synchronize();
                View<TD>(src).SubView(src.Offset, n).AsContiguous().CopyToCPU(dst[..n]);
            }
            return;
        }
        using var tmp = (IlgpuStorage<TD>)Allocate(src.DType, n, zeroed: false);
        var t = new Tensor(tmp, 0, src.ShapeArray(), ShapeUtil.ContiguousStrides(src.Shape));
        Copy(src, t);
        Download(t, dst);
    }

    /// <summary>The device buffer of a tensor, checked against the element type T.</summary>
    internal static ArrayView1D<T, Stride1D.Dense> View<T>(Tensor t) where T : unmanaged =>
        t.Storage is IlgpuStorage<T> s ? s.View
        : throw new InvalidOperationException($"ILGPU kernel expected {typeof(T).Name} device storage, got {t.DType.Name()} on {t.Device}.");

    /// <summary>Set to time every launch (see <see cref="KernelProfile"/>; slows the device down); null (default) off.</summary>
    public KernelProfile? Profile { get; set; }

    /// <summary>Runs a kernel over n threads (nothing for n = 0) under the launch lock; <paramref name="op"/> and
    /// <paramref name="detail"/> name it in the <see cref="Profile"/>.</summary>
    private void Launch(int n, Action<Index1D> launch, string detail = "", [System.Runtime.CompilerServices.CallerMemberName] string op = "")
    {
        if (n == 0) return;
        lock (_gate) Timed(op, n, detail, () => launch(n));
    }

    /// <summary>Runs a launch; while profiling, alone on the device and timed. Call under the launch lock.</summary>
    private void Timed(string op, long threads, string detail, Action launch)
    {
        Launches++;
        if (Profile is not { } profile) { launch(); return; }
        _accelerator.Synchronize();
        var sw = System.Diagnostics.Stopwatch.StartNew();
        launch();
        _accelerator.Synchronize();
        profile.Record(op, threads, detail, sw.Elapsed);
    }
}
