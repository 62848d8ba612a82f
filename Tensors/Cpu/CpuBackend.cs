using System.Runtime.CompilerServices;
using Sparkle.Tensors.Backend;

namespace Sparkle.Tensors.Cpu;

/// <summary>
/// The CPU backend. One partial file per op family: this one holds storage, copy and fill;
/// CpuBackend.Elementwise/Reduce/MatMul/Indexing/Random.cs the rest. Kernels are generic over the
/// element type and specialised by the JIT; contiguous rows take SIMD paths.
/// </summary>
public sealed partial class CpuBackend : IBackend
{
    /// <summary>The registered CPU backend: <see cref="CpuKernelOptions.Default"/>, the host's best kernels.</summary>
    public static CpuBackend Instance { get; } = new(CpuKernelOptions.Default);
    private CpuBackend(CpuKernelOptions options) => Options = options;

    /// <summary>A CPU backend that chooses its kernels by <paramref name="options"/> (tests, benchmarks). It is not
    /// registered: its tensors come from <see cref="Adopt"/>, and every op on them, and on their results, runs with
    /// these options. Same device as the default backend, so its tensors mix with any CPU tensor.</summary>
    public static CpuBackend WithOptions(CpuKernelOptions options)
        => options == CpuKernelOptions.Default ? Instance : new(options);

    /// <summary>Which kernels this backend runs.</summary>
    public CpuKernelOptions Options { get; }

    public Device Device => Device.Cpu;

    /// <summary>A tensor over the same array, offset and strides as the CPU tensor <paramref name="t"/> (no copy,
    /// writes show through) whose ops run on this backend. A leaf: it does not carry <paramref name="t"/>'s graph.</summary>
    public Tensor Adopt(Tensor t) => t.DType switch
    {
        DType.Float32 => Adopt<float>(t),
        DType.Float64 => Adopt<double>(t),
        DType.Int32 => Adopt<int>(t),
        DType.Int64 => Adopt<long>(t),
        DType.Bool => Adopt<bool>(t),
        _ => throw new ArgumentOutOfRangeException(nameof(t), t.DType, "unknown dtype"),
    };

    private Tensor Adopt<T>(Tensor t) where T : unmanaged
        => new(new CpuStorage<T>(Data<T>(t), Mine, t.Storage), t.Offset, t.ShapeArray(), t.Strides.ToArray());

    /// <summary>What this backend's storages record: null for the default one (as every plain CpuStorage).</summary>
    private CpuBackend? Mine => ReferenceEquals(this, Instance) ? null : this;

    public Storage Allocate(DType dtype, int length, bool zeroed = true) => dtype switch
    {
        DType.Float32 => Allocate<float>(length, zeroed),
        DType.Float64 => Allocate<double>(length, zeroed),
        DType.Int32 => Allocate<int>(length, zeroed),
        DType.Int64 => Allocate<long>(length, zeroed),
        DType.Bool => Allocate<bool>(length, zeroed),
        _ => throw new ArgumentOutOfRangeException(nameof(dtype)),
    };

    /// <summary>From this thread's pool (TensorMemory.Pooled) when there is one and the array is large enough.</summary>
    private CpuStorage<T> Allocate<T>(int length, bool zeroed) where T : unmanaged
        => StoragePool.Current is { } pool && (long)length * Unsafe.SizeOf<T>() >= StoragePool.MinBytes
            ? pool.Allocate(length, zeroed, NewArray<T>, Mine)
            : new CpuStorage<T>(NewArray<T>(length, zeroed), Mine);

    /// <summary>Tests set this so that every unzeroed allocation is filled with 0xFF bytes (NaN, -1, invalid
    /// bool): a kernel that reads an output before writing it then fails loudly instead of seeing lucky zeros.</summary>
    internal static bool PoisonUninitialized { get; set; }

    // Skipping the zeroing of outputs that kernels overwrite saves a full memory pass per op.
    private static T[] NewArray<T>(int length, bool zeroed) where T : unmanaged
    {
        CountFresh((long)length * Unsafe.SizeOf<T>());
        if (zeroed) return new T[length];
        var a = GC.AllocateUninitializedArray<T>(length);
        if (PoisonUninitialized) System.Runtime.InteropServices.MemoryMarshal.AsBytes(a.AsSpan()).Fill(0xFF);
        return a;
    }

    public Storage FromHost<T>(ReadOnlySpan<T> data) where T : unmanaged
    {
        var storage = Allocate<T>(data.Length, zeroed: false);
        data.CopyTo(storage.Data);
        return storage;
    }

    public void CopyToHost<T>(Tensor src, Span<T> dst) where T : unmanaged
    {
        var data = Data<T>(src);
        if (src.IsContiguous) { data.AsSpan(src.Offset, src.NumElements).CopyTo(dst); return; }
        int pos = 0;
        var plan = new StridedPlan(src.Shape, src);
        int stride = plan.InnerStride(0);
        var arr = new T[src.NumElements];
        plan.ForRows(0, plan.Rows, (o, n) =>
        {
            for (int i = 0, s = o[0]; i < n; i++, s += stride) arr[pos++] = data[s];
        });
        arr.CopyTo(dst);
    }

    /// <summary>The backing array of a CPU tensor, checked against T.</summary>
    internal static T[] Data<T>(Tensor t) where T : unmanaged =>
        t.Storage is CpuStorage<T> s ? s.Data
        : throw new InvalidOperationException($"CPU kernel expected {typeof(T).Name} storage, got {t.DType.Name()} on {t.Device}.");

    public void Fill(Tensor dst, double value)
    {
        switch (dst.DType)
        {
            case DType.Float32: FillTyped(dst, (float)value); break;
            case DType.Float64: FillTyped(dst, value); break;
            case DType.Int32: FillTyped(dst, (int)value); break;
            case DType.Int64: FillTyped(dst, (long)value); break;
            case DType.Bool: FillTyped(dst, value != 0); break;
        }
    }

    private static void FillTyped<T>(Tensor dst, T value) where T : unmanaged
    {
        var data = Data<T>(dst);
        var plan = new StridedPlan(dst.Shape, dst);
        int stride = plan.InnerStride(0);
        plan.ParallelRows((o, n) =>
        {
            if (stride == 1) data.AsSpan(o[0], n).Fill(value);
            else for (int i = 0, s = o[0]; i < n; i++, s += stride) data[s] = value;
        });
    }

    public void Copy(Tensor src, Tensor dst)
    {
        switch (src.DType)
        {
            case DType.Float32: CopyFrom<float>(src, dst); break;
            case DType.Float64: CopyFrom<double>(src, dst); break;
            case DType.Int32: CopyFrom<int>(src, dst); break;
            case DType.Int64: CopyFrom<long>(src, dst); break;
            case DType.Bool: CopyFrom<bool>(src, dst); break;
        }
    }

    private static void CopyFrom<TS>(Tensor src, Tensor dst) where TS : unmanaged
    {
        switch (dst.DType)
        {
            case DType.Float32: CopyTyped<TS, float>(src, dst); break;
            case DType.Float64: CopyTyped<TS, double>(src, dst); break;
            case DType.Int32: CopyTyped<TS, int>(src, dst); break;
            case DType.Int64: CopyTyped<TS, long>(src, dst); break;
            case DType.Bool: CopyTyped<TS, bool>(src, dst); break;
        }
    }

    private static void CopyTyped<TS, TD>(Tensor src, Tensor dst) where TS : unmanaged where TD : unmanaged
    {
        var s = Data<TS>(src);
        var d = Data<TD>(dst);
        var plan = new StridedPlan(dst.Shape, dst, src);
        int ds = plan.InnerStride(0), ss = plan.InnerStride(1);
        plan.ParallelRows((o, n) =>
        {
            if (typeof(TS) == typeof(TD) && ds == 1 && ss == 1)
            {
                s.AsSpan(o[1], n).CopyTo(((TS[])(object)d).AsSpan(o[0], n));
                return;
            }
            for (int i = 0, a = o[1], b = o[0]; i < n; i++, a += ss, b += ds) d[b] = Convert<TS, TD>(s[a]);
        });
    }

    /// <summary>Element conversion with PyTorch rules (float to int truncates, to bool is != 0).
    /// The type tests are constants for the JIT, so each instantiation is one conversion.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static TD Convert<TS, TD>(TS x) where TS : unmanaged where TD : unmanaged
    {
        if (typeof(TS) == typeof(TD)) return Unsafe.As<TS, TD>(ref x);
        if (typeof(TS) == typeof(long) && typeof(TD) == typeof(int)) { int v = (int)Unsafe.As<TS, long>(ref x); return Unsafe.As<int, TD>(ref v); }
        if (typeof(TS) == typeof(int) && typeof(TD) == typeof(long)) { long v = Unsafe.As<TS, int>(ref x); return Unsafe.As<long, TD>(ref v); }
        double dv = ToDouble(x);
        return FromDouble<TD>(dv);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static double ToDouble<T>(T x) where T : unmanaged
    {
        if (typeof(T) == typeof(float)) return Unsafe.As<T, float>(ref x);
        if (typeof(T) == typeof(double)) return Unsafe.As<T, double>(ref x);
        if (typeof(T) == typeof(int)) return Unsafe.As<T, int>(ref x);
        if (typeof(T) == typeof(long)) return Unsafe.As<T, long>(ref x);
        if (typeof(T) == typeof(bool)) return Unsafe.As<T, bool>(ref x) ? 1 : 0;
        throw new NotSupportedException(typeof(T).Name);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static T FromDouble<T>(double v) where T : unmanaged
    {
        if (typeof(T) == typeof(float)) { float r = (float)v; return Unsafe.As<float, T>(ref r); }
        if (typeof(T) == typeof(double)) return Unsafe.As<double, T>(ref v);
        if (typeof(T) == typeof(int)) { int r = (int)v; return Unsafe.As<int, T>(ref r); }
        if (typeof(T) == typeof(long)) { long r = (long)v; return Unsafe.As<long, T>(ref r); }
        if (typeof(T) == typeof(bool)) { bool r = v != 0; return Unsafe.As<bool, T>(ref r); }
        throw new NotSupportedException(typeof(T).Name);
    }
}
