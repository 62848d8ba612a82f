using System.Buffers;
using System.Runtime.InteropServices;
using Sparkle.Tensors.Cpu;

namespace Sparkle.Tensors.Cpu.Sparse;

/// <summary>
/// Kernel scratch from <see cref="ArrayPool{T}.Shared"/>, so a training step's sparse ops allocate (almost) nothing on
/// the managed heap (issue 6). Rented arrays are at least as long as asked (slice them); the caller returns them and
/// never returns an array a tensor wraps. When <see cref="CpuBackend.PoisonUninitialized"/> is on (every test), rented
/// arrays are filled with garbage first — NaN for floating types, 0x7F bytes (a huge index) for the rest — so a kernel
/// that reads scratch it did not write fails its oracle test instead of passing on a lucky zero.
/// </summary>
internal static class Scratch
{
    public static T[] Rent<T>(int length) where T : unmanaged
    {
        var a = ArrayPool<T>.Shared.Rent(Math.Max(1, length));
        if (CpuBackend.PoisonUninitialized)
        {
            if (typeof(T) == typeof(float) || typeof(T) == typeof(double)) MemoryMarshal.AsBytes(a.AsSpan()).Fill(0xFF);
            else MemoryMarshal.AsBytes(a.AsSpan()).Fill(0x7F);
        }
        return a;
    }

    /// <summary>A rented array with its first <paramref name="length"/> elements zero.</summary>
    public static T[] RentZeroed<T>(int length) where T : unmanaged
    {
        var a = Rent<T>(length);
        a.AsSpan(0, length).Clear();
        return a;
    }

    public static void Return<T>(T[] a) where T : unmanaged => ArrayPool<T>.Shared.Return(a);
}
