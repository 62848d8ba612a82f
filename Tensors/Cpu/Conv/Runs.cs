using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Sparkle.Tensors.Cpu.Conv;

/// <summary>Short contiguous runs (a panel row, a tile row) copied, cleared or added with 256-bit vectors and
/// a scalar tail. Lengths are small (tens of elements), so these stay inline instead of calling memmove.</summary>
internal static class Runs
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Copy<T>(ref T src, ref T dst, int n) where T : unmanaged
    {
        int i = 0, w = Vector256<T>.Count;
        for (; i + w <= n; i += w) Vector256.LoadUnsafe(ref src, (nuint)i).StoreUnsafe(ref dst, (nuint)i);
        for (; i < n; i++) Unsafe.Add(ref dst, i) = Unsafe.Add(ref src, i);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Clear<T>(ref T dst, int n) where T : unmanaged
    {
        int i = 0, w = Vector256<T>.Count;
        for (; i + w <= n; i += w) Vector256<T>.Zero.StoreUnsafe(ref dst, (nuint)i);
        for (; i < n; i++) Unsafe.Add(ref dst, i) = default;
    }

    /// <summary>dst[i] += src[i].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Add<T>(ref T src, ref T dst, int n) where T : unmanaged
    {
        int i = 0, w = Vector256<T>.Count;
        for (; i + w <= n; i += w)
            (Vector256.LoadUnsafe(ref dst, (nuint)i) + Vector256.LoadUnsafe(ref src, (nuint)i)).StoreUnsafe(ref dst, (nuint)i);
        for (; i < n; i++) Unsafe.Add(ref dst, i) = Gemm.ScalarOps.Add(Unsafe.Add(ref dst, i), Unsafe.Add(ref src, i));
    }

    /// <summary>dst[i] += value.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void AddScalar<T>(T value, ref T dst, int n) where T : unmanaged
    {
        int i = 0, w = Vector256<T>.Count;
        var v = Vector256.Create(value);
        for (; i + w <= n; i += w) (Vector256.LoadUnsafe(ref dst, (nuint)i) + v).StoreUnsafe(ref dst, (nuint)i);
        for (; i < n; i++) Unsafe.Add(ref dst, i) = Gemm.ScalarOps.Add(Unsafe.Add(ref dst, i), value);
    }
}

/// <summary>Runs of consecutive output pixels of one image that stay on one output row: (oh, ow, len, col),
/// col being the position of the run's first pixel in the panel or tile.</summary>
internal ref struct PixelRuns
{
    public Span<int> Data;
    public int Count;

    /// <summary>Cuts pixels [q, q + n) of an image with rows of <paramref name="ow"/> pixels into runs.</summary>
    public PixelRuns(Span<int> storage, int q, int n, int ow)
    {
        Data = storage;
        Count = 0;
        int col = 0;
        while (col < n)
        {
            int row = q / ow, x = q % ow, len = Math.Min(ow - x, n - col);
            Data[4 * Count] = row; Data[4 * Count + 1] = x; Data[4 * Count + 2] = len; Data[4 * Count + 3] = col;
            Count++;
            col += len; q += len;
        }
    }
}
