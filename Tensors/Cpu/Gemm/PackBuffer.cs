using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Sparkle.Tensors.Cpu.Gemm;

/// <summary>
/// A growable scratch array for packed panels, allocated on the pinned object heap so it never moves
/// and its usable part can start on a 64-byte (cache line) boundary: packed B/A micro-panels are then
/// read with aligned vector loads that never straddle lines. Uninitialised: packing writes every
/// element it later reads (edges are zero-padded explicitly).
/// </summary>
internal sealed class PackBuffer<T> where T : unmanaged
{
    private const int Alignment = 64;
    private T[] _array = [];
    private int _start;
    private int _capacity;

    /// <summary>Reference to element 0 of the aligned region, after making room for <paramref name="length"/> elements.</summary>
    public ref T Get(int length)
    {
        if (length > _capacity) Grow(length);
        return ref Origin;
    }

    /// <summary>Element 0 of the aligned region as sized by the last <see cref="Get"/> (other threads read it
    /// through this while the owner's call runs; it does not grow).</summary>
    public ref T Origin => ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_array), _start);

    /// <summary>The backing array and the index of the aligned region, after making room for <paramref name="length"/> elements.</summary>
    public T[] GetArray(int length, out int start)
    {
        if (length > _capacity) Grow(length);
        start = _start;
        return _array;
    }

    private void Grow(int length)
    {
        int pad = Alignment / Unsafe.SizeOf<T>();
        _array = GC.AllocateUninitializedArray<T>(length + pad, pinned: true);
        long address = Marshal.UnsafeAddrOfPinnedArrayElement(_array, 0);
        int misalign = (int)(address % Alignment);
        _start = misalign == 0 ? 0 : (Alignment - misalign) / Unsafe.SizeOf<T>();
        _capacity = _array.Length - _start;
    }
}

/// <summary>
/// Per-thread packing buffers: B panel (owned by the thread that calls GEMM and shared read-only with
/// the workers during the call), A block and the edge tile (owned by whichever thread runs a work item).
/// They grow to the largest size seen and are then reused, so steady-state calls allocate nothing.
/// </summary>
internal static class PackBuffers<T> where T : unmanaged
{
    [ThreadStatic] private static PackBuffer<T>? _b;
    [ThreadStatic] private static PackBuffer<T>? _b2;
    [ThreadStatic] private static PackBuffer<T>? _a;
    [ThreadStatic] private static PackBuffer<T>? _tile;
    [ThreadStatic] private static PackBuffer<T>? _vector;

    public static PackBuffer<T> B => _b ??= new PackBuffer<T>();
    /// <summary>The second B panel: B is double-buffered so one k block can be packed while the previous one is in use.</summary>
    public static PackBuffer<T> B2 => _b2 ??= new PackBuffer<T>();
    public static PackBuffer<T> A => _a ??= new PackBuffer<T>();
    public static PackBuffer<T> Tile => _tile ??= new PackBuffer<T>();
    /// <summary>A strided GEMV vector gathered to unit stride.</summary>
    public static PackBuffer<T> Vector => _vector ??= new PackBuffer<T>();
}
