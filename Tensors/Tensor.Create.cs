using Sparkle.Tensors.Backend;

namespace Sparkle.Tensors;

/// <summary>Factory functions. Every one takes an optional device (default cpu).</summary>
public sealed partial class Tensor
{
    private static IBackend BackendOf(Device? device) => Backends.For(device ?? Device.Cpu);

    public static Tensor Zeros(int[] shape, DType dtype = DType.Float32, Device? device = null) => Empty(shape, dtype, BackendOf(device), zeroed: true);

    /// <summary>A contiguous tensor with unspecified contents (torch.empty), for outputs a kernel overwrites completely.</summary>
    public static Tensor Empty(int[] shape, DType dtype = DType.Float32, Device? device = null) => Empty(shape, dtype, BackendOf(device));

    public static Tensor Ones(int[] shape, DType dtype = DType.Float32, Device? device = null) => Full(shape, 1.0, dtype, device);

    public static Tensor Full(int[] shape, double value, DType dtype = DType.Float32, Device? device = null)
    {
        var t = Empty(shape, dtype, BackendOf(device), zeroed: value == 0);
        if (value != 0) t.Backend.Fill(t, value);
        return t;
    }

    public static Tensor ZerosLike(Tensor t) => t.NewZeros(t.Shape, t.DType);
    public static Tensor OnesLike(Tensor t) => Full(t._shape, 1.0, t.DType, t.Device);
    public static Tensor FullLike(Tensor t, double value) => Full(t._shape, value, t.DType, t.Device);

    /// <summary>A 0-d tensor holding one value.</summary>
    public static Tensor Scalar(double value, DType dtype = DType.Float32, Device? device = null) => Full([], value, dtype, device);

    /// <summary>start, start+step, ... below end (torch.arange). Integer dtypes are exact.</summary>
    public static Tensor Arange(double start, double end, double step = 1, DType dtype = DType.Int64, Device? device = null)
    {
        if (step == 0) throw new ArgumentException("Arange: step must not be zero.");
        int n = (int)Math.Max(0, Math.Ceiling((end - start) / step));
        return dtype switch
        {
            DType.Float32 => FromArray(Enumerable.Range(0, n).Select(i => (float)(start + i * step)).ToArray(), device: device),
            DType.Float64 => FromArray(Enumerable.Range(0, n).Select(i => start + i * step).ToArray(), device: device),
            DType.Int32 => FromArray(Enumerable.Range(0, n).Select(i => (int)(start + i * step)).ToArray(), device: device),
            DType.Int64 => FromArray(Enumerable.Range(0, n).Select(i => (long)(start + i * step)).ToArray(), device: device),
            _ => throw new ArgumentException($"Arange does not support {dtype.Name()}."),
        };
    }

    public static Tensor Arange(int end, DType dtype = DType.Int64, Device? device = null) => Arange(0, end, 1, dtype, device);

    /// <summary>Copies data into a new tensor of the given shape (default: 1-D).</summary>
    public static Tensor FromArray<T>(T[] data, int[]? shape = null, Device? device = null) where T : unmanaged
        => FromSpan<T>(data, shape, device);

    public static Tensor FromSpan<T>(ReadOnlySpan<T> data, int[]? shape = null, Device? device = null) where T : unmanaged
    {
        var s = shape ?? [data.Length];
        if (ShapeUtil.NumElements(s) != data.Length)
            throw new ArgumentException($"FromArray: {data.Length} values do not fill shape {ShapeUtil.Format(s)}.");
        var st = BackendOf(device).FromHost(data);
        return new Tensor(st, 0, (int[])s.Clone(), ShapeUtil.ContiguousStrides(s));
    }
}
