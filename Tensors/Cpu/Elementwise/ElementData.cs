using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Sparkle.Tensors.Cpu.Elementwise;

/// <summary>Raw element access for the drivers. Bool tensors are processed as bytes (0/1), so that the
/// generic INumber kernels (and, or, not, comparisons, where, max) apply to them too.</summary>
internal static class ElementData
{
    public static T[] Array<T>(Tensor t) where T : unmanaged
    {
        // bool and byte arrays have the same layout; the drivers only ever store 0 or 1 into a bool tensor.
        if (typeof(T) == typeof(byte) && t.Storage is CpuStorage<bool> b) return Unsafe.As<T[]>(b.Data);
        return CpuBackend.Data<T>(t);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ref T At<T>(T[] a, int index) => ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(a), index);
}
