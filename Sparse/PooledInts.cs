using Sparkle.Tensors;
using Sparkle.Tensors.Cpu;

namespace Sparkle.Sparse;

/// <summary>
/// Index arrays (active sites, neighbour maps) that are rebuilt every forward because the mask changes, but have the
/// same lengths every step (SparK keeps the same number of patches per image). They are the arrays of Int32 tensors,
/// so inside <c>TensorPool.Use()</c> they come from the pool instead of the heap (issue 6). The owner keeps the
/// tensor (<see cref="Holder"/>) for as long as it hands out the array: a pooled array is recycled once its tensor
/// is unreachable, so nobody may keep the raw array without its owner.
/// </summary>
internal readonly struct PooledInts
{
    public Tensor Holder { get; }
    public int[] Data { get; }

    private PooledInts(Tensor holder)
    {
        Holder = holder;
        Data = holder.Storage is CpuStorage<int> s ? s.Data : throw new InvalidOperationException("expected a cpu int32 storage");
        if (Data.Length != holder.NumElements) throw new InvalidOperationException("a fresh int32 tensor's array has its exact length");
    }

    /// <summary>An array of exactly <paramref name="length"/> ints, contents unspecified (the caller writes all).</summary>
    public static PooledInts Empty(int length) => new(Tensor.Empty([length], DType.Int32));
}
