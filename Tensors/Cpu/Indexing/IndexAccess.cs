using System.Runtime.CompilerServices;

namespace Sparkle.Tensors.Cpu.Indexing;

/// <summary>Reading Int32/Int64 index tensors generically, checking them, and adding elements of any dtype.</summary>
internal static class IndexAccess
{
    /// <summary>Element i of an Int32 or Int64 index array as a long (the JIT keeps one branch per TI).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long Read<TI>(TI[] a, int i) where TI : unmanaged =>
        typeof(TI) == typeof(long) ? Unsafe.As<TI, long>(ref a[i]) : Unsafe.As<TI, int>(ref a[i]);

    /// <summary>Throws, naming the first bad index in row-major order, unless every element of
    /// <paramref name="index"/> lies in [0, size). Checked before any kernel writes, so a failing in-place op
    /// leaves its target untouched, and the message does not depend on thread count.</summary>
    public static void CheckInRange<TI>(string op, Tensor index, int size, int dim, ReadOnlySpan<int> shape) where TI : unmanaged
    {
        if (index.NumElements == 0) return;
        index = WithoutBroadcastDims(index);
        var data = CpuBackend.Data<TI>(index);
        var plan = new StridedPlan(index.Shape, index);
        int stride = plan.InnerStride(0);
        int bad = 0;
        plan.ParallelRows((o, n) =>
        {
            for (int i = 0, p = o[0]; i < n; i++, p += stride)
            {
                long k = Read(data, p);
                if ((ulong)k >= (ulong)size) { Volatile.Write(ref bad, 1); return; }
            }
        });
        if (bad == 0) return;
        var shapeText = ShapeUtil.Format(shape);
        plan.ForRows(0, plan.Rows, (o, n) =>
        {
            for (int i = 0, p = o[0]; i < n; i++, p += stride)
            {
                long k = Read(data, p);
                if ((ulong)k >= (ulong)size)
                    throw new IndexOutOfRangeException($"{op}: index {k} is out of bounds for dim {dim} with size {size} (shape {shapeText}).");
            }
        });
    }

    /// <summary>The view without its stride-0 dims: they only repeat values (index_select's broadcast index
    /// would otherwise be checked once per output element).</summary>
    private static Tensor WithoutBroadcastDims(Tensor t)
    {
        var shape = new List<int>();
        var strides = new List<int>();
        for (int d = 0; d < t.Rank; d++)
            if (t.Strides[d] != 0) { shape.Add(t.Shape[d]); strides.Add(t.Strides[d]); }
        return shape.Count == t.Rank ? t : new Tensor(t.Storage, t.Offset, [.. shape], [.. strides]);
    }

    /// <summary>a + b in T; for Bool this is logical or (PyTorch's bool add).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T Add<T>(T a, T b) where T : unmanaged
    {
        if (typeof(T) == typeof(float)) { float r = Unsafe.As<T, float>(ref a) + Unsafe.As<T, float>(ref b); return Unsafe.As<float, T>(ref r); }
        if (typeof(T) == typeof(double)) { double r = Unsafe.As<T, double>(ref a) + Unsafe.As<T, double>(ref b); return Unsafe.As<double, T>(ref r); }
        if (typeof(T) == typeof(int)) { int r = unchecked(Unsafe.As<T, int>(ref a) + Unsafe.As<T, int>(ref b)); return Unsafe.As<int, T>(ref r); }
        if (typeof(T) == typeof(long)) { long r = unchecked(Unsafe.As<T, long>(ref a) + Unsafe.As<T, long>(ref b)); return Unsafe.As<long, T>(ref r); }
        if (typeof(T) == typeof(bool)) { bool r = Unsafe.As<T, bool>(ref a) | Unsafe.As<T, bool>(ref b); return Unsafe.As<bool, T>(ref r); }
        throw new NotSupportedException(typeof(T).Name);
    }

    /// <summary>A view of <paramref name="t"/> with <paramref name="shape"/> (each dim no larger than t's) and
    /// stride 0 along <paramref name="dim"/>: the base address that an index along dim is added to.</summary>
    public static Tensor BaseView(Tensor t, ReadOnlySpan<int> shape, int dim)
    {
        var strides = t.StridesArray();
        strides[dim] = 0;
        return new Tensor(t.Storage, t.Offset, shape.ToArray(), strides);
    }
}
