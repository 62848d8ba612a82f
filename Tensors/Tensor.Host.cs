using Sparkle.Tensors.Cpu;

namespace Sparkle.Tensors;

/// <summary>Zero-copy exchange with host arrays, for readers and writers (safetensors, images) that live above the
/// tensor core and must not name the CPU backend's storage type.</summary>
public sealed partial class Tensor
{
    /// <summary>A contiguous CPU tensor of <paramref name="shape"/> over <paramref name="data"/> itself (no copy: later
    /// writes to the array show in the tensor and back). <see cref="FromArray{T}"/> copies instead.</summary>
    public static Tensor WrapHost<T>(T[] data, int[] shape) where T : unmanaged
    {
        if (ShapeUtil.NumElements(shape) != data.Length)
            throw new ArgumentException($"WrapHost: {data.Length} values do not fill shape {ShapeUtil.Format(shape)}.");
        return new Tensor(new CpuStorage<T>(data), 0, (int[])shape.Clone(), ShapeUtil.ContiguousStrides(shape));
    }

    /// <summary>The elements in row-major order without a copy, when this is a contiguous tensor of T in host memory
    /// (the CPU backend); false otherwise (another device, another dtype, or a strided view: use ToArray).</summary>
    public bool TryGetHostSpan<T>(out ReadOnlySpan<T> span) where T : unmanaged
    {
        if (IsContiguous && Storage is CpuStorage<T> cpu)
        {
            span = cpu.Data.AsSpan(Offset, NumElements);
            return true;
        }
        span = default;
        return false;
    }

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
