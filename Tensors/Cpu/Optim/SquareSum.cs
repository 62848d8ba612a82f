using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Sparkle.Tensors.Cpu.Elementwise;
using Sparkle.Tensors.Cpu.Reduce;

namespace Sparkle.Tensors.Cpu.Optim;

/// <summary>Σ x² for the reduction driver's row loop: the square rounds to T before it is added, so one chunk's sum has
/// the bits of Tensor.Sum over the squared tensor (the composition the optimizers used before).</summary>
internal readonly struct SquareKernel<T> : IReduceKernel<T> where T : unmanaged, INumber<T>
{
    public static T Identity => T.Zero;
    public static bool UsesCenter => false;
    public static T Combine(T acc, T x) => acc + x;
    public static Vector256<T> Combine(Vector256<T> acc, Vector256<T> x) => acc + x;
    public static Vector512<T> Combine(Vector512<T> acc, Vector512<T> x) => acc + x;
    public static Vector128<T> Combine(Vector128<T> acc, Vector128<T> x) => acc + x;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T Map(T x, T center) => x * x;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> Map(Vector256<T> x, Vector256<T> center) => x * x;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> Map(Vector512<T> x, Vector512<T> center) => x * x;
}

internal static class SquareSum
{
    /// <summary>Σ a[start..end)² in the order of <see cref="ReduceRows.Along{T, TK}"/>.</summary>
    public static T Of<T>(T[] a, int start, int end) where T : unmanaged, INumber<T> =>
        end > start ? ReduceRows.Along<T, SquareKernel<T>>(ref ElementData.At(a, start), end - start, T.Zero, CpuKernelOptions.Default.UseVector512) : T.Zero;

    /// <summary>Per tensor, the partials of its chunks added in chunk order (Tensor.Sum's order for a contiguous tensor).</summary>
    public static T[] Fold<T>((int Tensor, int Start, int End)[] items, T[] partials, int tensors) where T : unmanaged, INumber<T>
    {
        var sums = new T[tensors];
        var seen = new bool[tensors];
        for (int k = 0; k < items.Length; k++)
        {
            int t = items[k].Tensor;
            sums[t] = seen[t] ? sums[t] + partials[k] : partials[k];
            seen[t] = true;
        }
        return sums;
    }
}
