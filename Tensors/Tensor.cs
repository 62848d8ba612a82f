using Sparkle.Tensors.Backend;

namespace Sparkle.Tensors;

/// <summary>
/// An n-dimensional strided view over a <see cref="Storage"/>: (storage, offset, shape, strides).
/// View ops (reshape, permute, slice, expand, squeeze, ...) share the storage; everything else
/// allocates a fresh contiguous result through the storage's backend.
/// Ops are split over partial files by family (Tensor.Views.cs, Tensor.Elementwise.cs, ...).
/// </summary>
public sealed partial class Tensor
{
    private readonly int[] _shape;
    private int[] _strides;

    public Tensor(Storage storage, int offset, int[] shape, int[] strides)
    {
        if (shape.Length != strides.Length)
            throw new ArgumentException($"Shape {ShapeUtil.Format(shape)} and strides {ShapeUtil.Format(strides)} differ in rank.");
        Storage = storage;
        Offset = offset;
        _shape = shape;
        _strides = strides;
        NumElements = ShapeUtil.NumElements(shape);
    }

    public Storage Storage { get; private set; }
    /// <summary>Index of element [0, ..., 0] in the storage.</summary>
    public int Offset { get; private set; }
    public ReadOnlySpan<int> Shape => _shape;
    public ReadOnlySpan<int> Strides => _strides;
    public DType DType => Storage.DType;
    public Device Device => Storage.Device;
    public IBackend Backend => Storage.Backend;
    public int Rank => _shape.Length;
    public int NumElements { get; }

    /// <summary>Size of dimension <paramref name="dim"/> (negative counts from the end).</summary>
    public int Size(int dim) => _shape[ShapeUtil.NormalizeDim(dim, Rank)];
    public int Stride(int dim) => _strides[ShapeUtil.NormalizeDim(dim, Rank)];

    /// <summary>The shape as a new array (for callers that need to keep or edit it).</summary>
    public int[] ShapeArray() => (int[])_shape.Clone();
    public int[] StridesArray() => (int[])_strides.Clone();

    /// <summary>Channels-last in PyTorch's sense: a 4-D (N, C, H, W) view whose C has unit stride and whose W does not
    /// (NHWC strides). Kernels that keep the input's layout test this one definition.</summary>
    public bool IsChannelsLast => Rank == 4 && _shape[1] > 1 && _strides[1] == 1 && !(_shape[3] > 1 && _strides[3] == 1);

    /// <summary>True when the elements lie in row-major order without gaps (size-1 dims ignored; an empty tensor
    /// is contiguous whatever its strides).</summary>
    public bool IsContiguous
    {
        get
        {
            if (NumElements == 0) return true;
            int expected = 1;
            for (int i = Rank - 1; i >= 0; i--)
            {
                if (_shape[i] == 1) continue;
                if (_strides[i] != expected) return false;
                expected *= _shape[i];
            }
            return true;
        }
    }

    /// <summary>
    /// Points this tensor at <paramref name="source"/>'s data (same shape; any dtype-equal layout or device) while keeping
    /// the object — torch's <c>param.data = ...</c>. Modules move their parameters between devices this way, so layers'
    /// fields and optimizers' references stay valid. Views made earlier keep the old data.
    /// </summary>
    public void SetData(Tensor source)
    {
        ArgumentNullException.ThrowIfNull(source);
        if (!ShapeUtil.SameShape(source.Shape, _shape) || source.DType != DType)
            throw new ArgumentException($"SetData: {source.DType.Name()} {ShapeUtil.Format(source.Shape)} does not match {DType.Name()} {ShapeUtil.Format(_shape)}.");
        Storage = source.Storage;
        Offset = source.Offset;
        _strides = source.StridesArray();
        _grad = null;
    }

    public override string ToString() => $"Tensor(shape={ShapeUtil.Format(_shape)}, dtype={DType.Name()}, device={Device}"
        + (GradNode is not null ? $", grad_fn={GradNode})" : _requiresGrad ? ", requires_grad)" : ")");

    // ---- checks shared by every op family ----

    internal static void CheckSameDevice(string op, Tensor a, Tensor b)
    {
        if (a.Device != b.Device)
            throw new InvalidOperationException($"{op}: tensors are on different devices: {a.Device} {ShapeUtil.Format(a.Shape)} and {b.Device} {ShapeUtil.Format(b.Shape)}. Move one with To(device).");
    }

    internal static void CheckSameDType(string op, Tensor a, Tensor b)
    {
        if (a.DType != b.DType)
            throw new InvalidOperationException($"{op}: dtypes differ: {a.DType.Name()} {ShapeUtil.Format(a.Shape)} and {b.DType.Name()} {ShapeUtil.Format(b.Shape)}.");
    }

    internal static void CheckFloating(string op, Tensor a)
    {
        if (!a.DType.IsFloating())
            throw new InvalidOperationException($"{op} needs a float32 or float64 tensor, got {a.DType.Name()} {ShapeUtil.Format(a.Shape)}.");
    }

    /// <summary>A fresh contiguous tensor on this tensor's device with unspecified contents (torch.empty):
    /// for outputs that are overwritten completely. Use <see cref="NewZeros"/> otherwise.</summary>
    internal Tensor NewEmpty(ReadOnlySpan<int> shape, DType dtype) => Empty(shape, dtype, Backend);

    /// <summary>A fresh zero-filled contiguous tensor on this tensor's device.</summary>
    internal Tensor NewZeros(ReadOnlySpan<int> shape, DType dtype) => Empty(shape, dtype, Backend, zeroed: true);

    internal static Tensor Empty(ReadOnlySpan<int> shape, DType dtype, IBackend backend, bool zeroed = false)
    {
        var s = shape.ToArray();
        return new Tensor(backend.Allocate(dtype, ShapeUtil.NumElements(s), zeroed), 0, s, ShapeUtil.ContiguousStrides(s));
    }
}
