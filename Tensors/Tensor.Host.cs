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
}
