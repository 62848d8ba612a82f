using Sparkle.Tensors;

namespace Sparkle.Tensors.Cpu.Sparse;

/// <summary>
/// A weight's elements in row-major order read in place from its storage instead of a per-call copy (a weight-sized
/// allocation per layer and step, issue 6). Holds the (contiguous) tensor, so a backward closure that captures this
/// keeps the storage alive: a pooled storage's array is recycled once its tensor is unreachable. The sparse ops list
/// the weight among the tensors their backward reads, so an in-place change before the backward fails there instead
/// of giving wrong gradients.
/// </summary>
internal readonly struct WeightRef<T> where T : unmanaged
{
    private readonly Tensor _t;

    private WeightRef(Tensor t) => _t = t;

    /// <summary>The weight itself when contiguous, otherwise a contiguous copy (rare: parameters are contiguous).</summary>
    public static WeightRef<T> Of(Tensor weight) => new(weight.Contiguous());

    public T[] Data => RowIO.Data<T>(_t);
    public int Offset => _t.Offset;
    public ReadOnlySpan<T> Span => Data.AsSpan(_t.Offset, _t.NumElements);
}
