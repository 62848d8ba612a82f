using System.Numerics;
using Sparkle.Tensors.Cpu.Elementwise;
using Sparkle.Tensors.Cpu.Reduce;

namespace Sparkle.Tensors.Cpu.Optim;

internal static class SquareSum
{
    /// <summary>Σ a[start..end)² in the order of <see cref="ReduceRows.Along{T, TK}"/>: the variance's squared-deviation
    /// kernel about 0 ((x − 0)² is x² exactly), each square rounded to T before it is added, so a chunk's sum has the bits
    /// of Tensor.Sum over the squared tensor (the composition the optimizers used before).</summary>
    public static T Of<T>(T[] a, int start, int end) where T : unmanaged, INumber<T> =>
        end > start ? ReduceRows.Along<T, SquaredDeviationKernel<T>>(ref ElementData.At(a, start), end - start, T.Zero, CpuKernelOptions.Default.Width) : T.Zero;

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
