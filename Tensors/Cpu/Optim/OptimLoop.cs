using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Sparkle.Tensors.Cpu.Optim;

/// <summary>An elementwise update: element block i (Count elements of TO) of a chunk.</summary>
internal interface IOptimBody<T> where T : unmanaged
{
    void Run<TV, TO>(int i) where TV : struct where TO : IOptimVec<T, TV>;
}

internal static class OptimLoop
{
    /// <summary>Elements per work item: the CPU reduction's summation chunk (ReducePlan.ChunkElements), so that the sums of
    /// squares taken chunk by chunk add up in the order Tensor.Sum uses (the same bits).</summary>
    public const int Chunk = Reduce.ReducePlan.ChunkElements;

    /// <summary>body.Run over [start, end): vectors of the policy's width, then single elements.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Run<T, TB>(ref TB body, int start, int end) where T : unmanaged, IFloatingPointIeee754<T> where TB : struct, IOptimBody<T>
    {
        int i = start;
        var width = CpuKernelOptions.Default.Width;   // the default options' width (the optimizer kernels take no options yet)
        if (width == SimdWidth.V512)
            for (int w = Vector512<T>.Count; i <= end - w; i += w) body.Run<Vector512<T>, OptimV512<T>>(i);
        else if (width == SimdWidth.V256)
            for (int w = Vector256<T>.Count; i <= end - w; i += w) body.Run<Vector256<T>, OptimV256<T>>(i);
        else if (width == SimdWidth.V128)
            for (int w = Vector128<T>.Count; i <= end - w; i += w) body.Run<Vector128<T>, OptimV128<T>>(i);
        for (; i < end; i++) body.Run<T, OptimScalar<T>>(i);
    }

    /// <summary>One tensor of <paramref name="n"/> elements: body over chunks in parallel.</summary>
    public static void Chunked<T, TB>(TB body, int n) where T : unmanaged, IFloatingPointIeee754<T> where TB : struct, IOptimBody<T>
    {
        int chunks = (n + Chunk - 1) / Chunk;
        if (chunks <= 1) { Run<T, TB>(ref body, 0, n); return; }
        IntraOpPool.For(chunks, c =>
        {
            var b = body;
            Run<T, TB>(ref b, c * Chunk, Math.Min(n, (c + 1) * Chunk));
        });
    }

    /// <summary>The work items of a list of tensors of the given lengths: (tensor, chunk) pairs, chunks of <see cref="Chunk"/>
    /// elements (an empty tensor gets one empty chunk, so every tensor has a partial sum).</summary>
    public static (int Tensor, int Start, int End)[] Items(IReadOnlyList<int> lengths)
    {
        var items = new List<(int, int, int)>();
        for (int t = 0; t < lengths.Count; t++)
        {
            int n = lengths[t];
            if (n == 0) { items.Add((t, 0, 0)); continue; }
            for (int s = 0; s < n; s += Chunk) items.Add((t, s, Math.Min(n, s + Chunk)));
        }
        return [.. items];
    }
}
