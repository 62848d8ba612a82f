using Sparkle.Tensors.Cpu;

namespace Sparkle.Tensors;

public sealed partial class Tensor
{
    /// <summary>
    /// The elements of a contiguous CPU tensor as a span over its own storage (no copy), for code above the seam that
    /// builds host data in place — index lists, neighbour maps, masks — without touching the CPU backend's types. Writes
    /// go straight into the tensor (no version bump: use it on tensors you just created). Throws for another device, a
    /// dtype other than T, or a non-contiguous view.
    /// </summary>
    public Span<T> HostSpan<T>() where T : unmanaged
    {
        if (Device != Device.Cpu)
            throw new InvalidOperationException($"HostSpan needs a cpu tensor; this one is on {Device}.");
        if (Storage is not CpuStorage<T> cpu)
            throw new InvalidOperationException($"HostSpan<{typeof(T).Name}> on a {DType.Name()} tensor.");
        if (!IsContiguous)
            throw new InvalidOperationException($"HostSpan needs a contiguous tensor, got strides ({string.Join(", ", StridesArray())}) for shape {ShapeUtil.Format(Shape)}.");
        return cpu.Data.AsSpan(Offset, NumElements);
    }
}
