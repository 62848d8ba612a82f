namespace Sparkle.Tensors.Backend;

/// <summary>
/// How a training-mode batch norm sees its input (<see cref="IBackend.BatchNormTrainForward"/>): either channels-first
/// planes, a contiguous (N, C, *) tensor whose channel c holds N planes of <see cref="Inner"/> elements, or a contiguous
/// rank-2 (n, C) rows matrix (channels last, one row per site: the sparse encoder's active sites, or a plain (N, C)
/// batch). Rows are planes with Inner = 1; the CPU gives them their own kernel (SIMD across channels).
/// Every backend validates through here, so the "more than 1 value per channel" error is the same on every device.
/// </summary>
public readonly record struct BatchNormShape(int Batch, int Channels, int Inner)
{
    /// <summary>Values per channel the statistics run over.</summary>
    public int Count => Batch * Inner;

    public bool IsRows => Inner == 1;

    public static BatchNormShape Of(Tensor x, string op = "BatchNorm")
    {
        if (x.Rank < 2) throw new ArgumentException($"{op} expects (N, C, ...) or (n, C) input, got shape {ShapeUtil.Format(x.Shape)}.");
        if (!x.IsContiguous) throw new ArgumentException($"{op}: the backend kernel needs a contiguous input, got shape {ShapeUtil.Format(x.Shape)} with strides ({string.Join(", ", x.Strides.ToArray())}).");
        if (x.DType is not (DType.Float32 or DType.Float64)) throw new ArgumentException($"{op} supports float32 and float64, not {x.DType.Name()}.");
        int n = x.Size(0), c = x.Size(1);
        int inner = c == 0 || n == 0 ? 1 : x.NumElements / (n * c);
        var s = new BatchNormShape(n, c, inner);
        if (s.Count <= 1) throw TooFewValues(op, x.Shape);
        return s;
    }

    /// <summary>PyTorch's error for train-mode batch statistics over at most one value per channel (its
    /// <c>_verify_batch_size</c>), the same on every path: "Expected more than 1 value per channel when training, got input
    /// size [1, 64, 1, 1]". Every path throws it before writing output or running statistics.</summary>
    public static ArgumentException TooFewValues(string op, ReadOnlySpan<int> shape, string? note = null) =>
        new($"{op}: Expected more than 1 value per channel when training, got input size [{string.Join(", ", shape.ToArray())}]{note}.");
}
