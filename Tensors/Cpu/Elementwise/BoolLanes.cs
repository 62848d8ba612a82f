using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Sparkle.Tensors.Cpu.Elementwise;

/// <summary>Conversions between vector lane masks and bool bytes (0/1), for comparisons and where.</summary>
internal static class BoolLanes
{
    /// <summary>Entry k has byte j = bit j of k: eight mask bits to eight bool bytes in one load.</summary>
    private static readonly ulong[] BitsToBytes = BuildTable();

    private static ulong[] BuildTable()
    {
        var t = new ulong[256];
        for (int k = 0; k < 256; k++)
            for (int j = 0; j < 8; j++)
                if ((k >> j & 1) != 0) t[k] |= 1UL << (8 * j);
        return t;
    }

    /// <summary>Writes <paramref name="count"/> bool bytes (count is 2, 4 or a multiple of 8) from the low bits of <paramref name="bits"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(ulong bits, int count, ref byte dst)
    {
        if (count == 2)
        {
            Unsafe.WriteUnaligned(ref dst, (ushort)BitsToBytes[bits & 0x3]);
            return;
        }
        if (count == 4)
        {
            Unsafe.WriteUnaligned(ref dst, (uint)BitsToBytes[bits & 0xF]);
            return;
        }
        for (int j = 0; j < count; j += 8, bits >>= 8)
            Unsafe.WriteUnaligned(ref Unsafe.Add(ref dst, j), BitsToBytes[bits & 0xFF]);
    }

    /// <summary>A lane mask of T from Vector256&lt;T&gt;.Count bool bytes (true = all bits set).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> Mask256<T>(ref byte src) where T : unmanaged
    {
        if (Unsafe.SizeOf<T>() == 1)
            return (~Vector256.Equals(Vector256.LoadUnsafe(ref src), Vector256<byte>.Zero)).As<byte, T>();
        if (Unsafe.SizeOf<T>() == 4)
        {
            var b = Vector128.CreateScalar(Unsafe.ReadUnaligned<ulong>(ref src)).AsByte();
            var w = Vector128.WidenLower(b);
            var d = Vector256.Create(Vector128.WidenLower(w), Vector128.WidenUpper(w));
            return (~Vector256.Equals(d, Vector256<uint>.Zero)).As<uint, T>();
        }
        else
        {
            var b = Vector128.CreateScalar(Unsafe.ReadUnaligned<uint>(ref src)).AsByte();
            var d = Vector128.WidenLower(Vector128.WidenLower(b));
            var q = Vector256.Create(Vector128.WidenLower(d), Vector128.WidenUpper(d));
            return (~Vector256.Equals(q, Vector256<ulong>.Zero)).As<ulong, T>();
        }
    }

    /// <summary>A lane mask of T from Vector128&lt;T&gt;.Count bool bytes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<T> Mask128<T>(ref byte src) where T : unmanaged
    {
        if (Unsafe.SizeOf<T>() == 1)
            return (~Vector128.Equals(Vector128.LoadUnsafe(ref src), Vector128<byte>.Zero)).As<byte, T>();
        if (Unsafe.SizeOf<T>() == 4)
        {
            var b = Vector128.CreateScalar(Unsafe.ReadUnaligned<uint>(ref src)).AsByte();
            var d = Vector128.WidenLower(Vector128.WidenLower(b));
            return (~Vector128.Equals(d, Vector128<uint>.Zero)).As<uint, T>();
        }
        else
        {
            var b = Vector128.CreateScalar(Unsafe.ReadUnaligned<ushort>(ref src)).AsByte();
            var q = Vector128.WidenLower(Vector128.WidenLower(Vector128.WidenLower(b)));
            return (~Vector128.Equals(q, Vector128<ulong>.Zero)).As<ulong, T>();
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> Mask512<T>(ref byte src) where T : unmanaged
        => Vector512.Create(Mask256<T>(ref src), Mask256<T>(ref Unsafe.Add(ref src, Vector256<T>.Count)));

    /// <summary>All lanes set when b != 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> Splat256<T>(byte b) where T : unmanaged => b != 0 ? Vector256<T>.AllBitsSet : Vector256<T>.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<T> Splat128<T>(byte b) where T : unmanaged => b != 0 ? Vector128<T>.AllBitsSet : Vector128<T>.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> Splat512<T>(byte b) where T : unmanaged => b != 0 ? Vector512<T>.AllBitsSet : Vector512<T>.Zero;
}
