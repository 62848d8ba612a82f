using Sparkle.Tensors.Cpu;

namespace Sparkle.Tensors;

/// <summary>Element access and host export. Element access is for tests and debugging, not for hot loops.</summary>
public sealed partial class Tensor
{
    /// <summary>Storage index of the element at <paramref name="index"/> (negative indices count from the end).</summary>
    public int StorageIndex(ReadOnlySpan<int> index)
    {
        if (index.Length != Rank)
            throw new ArgumentException($"Index of rank {index.Length} given for a tensor of shape {ShapeUtil.Format(_shape)}.");
        int off = Offset;
        for (int i = 0; i < Rank; i++)
        {
            int k = index[i] < 0 ? index[i] + _shape[i] : index[i];
            if (k < 0 || k >= _shape[i])
                throw new IndexOutOfRangeException($"Index {index[i]} is out of range for dim {i} of shape {ShapeUtil.Format(_shape)}.");
            off += k * _strides[i];
        }
        return off;
    }

    private T[] HostArray<T>() where T : unmanaged
    {
        if (Storage is CpuStorage<T> cpu) return cpu.Data;
        if (Storage.Device != Device.Cpu)
            throw new InvalidOperationException($"Element access needs a cpu tensor; this one is on {Device}. Call To(Device.Cpu) first.");
        throw new InvalidOperationException($"Tensor dtype is {DType.Name()}, not {typeof(T).Name}.");
    }

    public T Get<T>(params int[] index) where T : unmanaged => HostArray<T>()[StorageIndex(index)];

    public void Set<T>(T value, params int[] index) where T : unmanaged
    {
        BeginInPlaceWrite("Set");
        HostArray<T>()[StorageIndex(index)] = value;
    }

    /// <summary>Any dtype read as double (bool as 0/1). CPU only.</summary>
    public double GetDouble(params int[] index)
    {
        int i = StorageIndex(index);
        return Storage switch
        {
            CpuStorage<float> s => s.Data[i],
            CpuStorage<double> s => s.Data[i],
            CpuStorage<int> s => s.Data[i],
            CpuStorage<long> s => s.Data[i],
            CpuStorage<bool> s => s.Data[i] ? 1 : 0,
            _ => throw new InvalidOperationException($"Element access needs a cpu tensor; this one is on {Device}."),
        };
    }

    /// <summary>The value of a one-element tensor.</summary>
    public double Item()
    {
        if (NumElements != 1) throw new InvalidOperationException($"Item() needs a one-element tensor, got shape {ShapeUtil.Format(_shape)}.");
        var t = To(Device.Cpu);
        return t.GetDouble(new int[Rank]);
    }

    /// <summary>The elements in row-major order as a new host array; T must match the dtype.</summary>
    public T[] ToArray<T>() where T : unmanaged
    {
        if (DTypes.Of<T>() != DType)
            throw new InvalidOperationException($"ToArray<{typeof(T).Name}> on a {DType.Name()} tensor; convert with To(DType) first.");
        var r = new T[NumElements];
        Backend.CopyToHost<T>(this, r);
        return r;
    }

    /// <summary>All elements converted to double, row-major (any dtype). Handy in tests.</summary>
    public double[] ToDoubleArray() => To(Device.Cpu).To(DType.Float64).ToArray<double>();
}
