using Sparkle.Tensors.Autograd;
namespace Sparkle.Tensors;

/// <summary>
/// Joining and splitting, written once above the seam: Cat/Stack/Pad allocate the result and Backend.Copy
/// each input into a Narrow view of it; Split/Chunk return views. Cat and Stack promote mixed dtypes
/// (bool &lt; int32 &lt; int64 &lt; float32 &lt; float64, as torch.cat does); all inputs must share a device.
/// </summary>
public sealed partial class Tensor
{
    /// <summary>Concatenates along dim (torch.cat). Shapes must match except along dim. As in torch, 1-D
    /// tensors of shape (0) are skipped when the others have another rank.</summary>
    public static Tensor Cat(IReadOnlyList<Tensor> tensors, int dim)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        if (tensors.Count == 0) throw new ArgumentException("Cat: needs at least one tensor.");
        if (GradHook.Wants(tensors))
        {
            Tensor raw;
            using (GradHook.Pause()) raw = Cat(tensors, dim);
            return GradHook.Recorder!.Cat(tensors, dim, raw);
        }
        var first = tensors[0];
        var dtype = first.DType;
        foreach (var t in tensors)
        {
            CheckSameDevice("Cat", first, t);
            dtype = DTypes.Promote(dtype, t.DType);
        }
        var parts = tensors.Where(t => !IsLegacyEmpty(t)).ToList();
        if (parts.Count == 0) return Empty([0], dtype, first.Backend);
        var reference = parts[0];
        if (reference.Rank == 0) throw new ArgumentException($"Cat: zero-dimensional tensor {ShapeUtil.Format(reference.Shape)} cannot be concatenated; Unsqueeze it or use Stack.");
        int d = ShapeUtil.NormalizeDim(dim, reference.Rank);
        var shape = reference.ShapeArray();
        shape[d] = 0;
        for (int k = 0; k < parts.Count; k++)
        {
            var t = parts[k];
            if (t.Rank != reference.Rank)
                throw new ArgumentException($"Cat: tensor {k} has shape {ShapeUtil.Format(t.Shape)}, rank {t.Rank}, but tensor 0 has shape {ShapeUtil.Format(reference.Shape)}, rank {reference.Rank}.");
            for (int i = 0; i < t.Rank; i++)
                if (i != d && t.Shape[i] != reference.Shape[i])
                    throw new ArgumentException($"Cat: shapes {ShapeUtil.Format(reference.Shape)} and {ShapeUtil.Format(t.Shape)} (tensor {k}) differ in dim {i}; only dim {d} may differ.");
            shape[d] = checked(shape[d] + t.Shape[d]);
        }
        var r = Empty(shape, dtype, first.Backend);
        int offset = 0;
        foreach (var t in parts)
        {
            int len = t.Shape[d];
            if (len > 0 && t.NumElements > 0) r.Backend.Copy(t, r.Narrow(d, offset, len));
            offset += len;
        }
        return r;
    }

    private static bool IsLegacyEmpty(Tensor t) => t.Rank == 1 && t.Shape[0] == 0;

    /// <summary>Joins equal-shaped tensors along a new dim (torch.stack); dim is in [-(rank+1), rank].</summary>
    public static Tensor Stack(IReadOnlyList<Tensor> tensors, int dim)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        if (tensors.Count == 0) throw new ArgumentException("Stack: needs at least one tensor.");
        var first = tensors[0];
        for (int k = 1; k < tensors.Count; k++)
            if (!ShapeUtil.SameShape(first.Shape, tensors[k].Shape))
                throw new ArgumentException($"Stack: all tensors must have the same shape; tensor 0 is {ShapeUtil.Format(first.Shape)}, tensor {k} is {ShapeUtil.Format(tensors[k].Shape)}.");
        int d = ShapeUtil.NormalizeDim(dim, first.Rank + 1);
        var parts = tensors.Select(t => t.Unsqueeze(d)).ToList();
        // After Unsqueeze no part has shape (0), so Cat's legacy skip never applies here.
        return Cat(parts, d);
    }

    /// <summary>Views of consecutive pieces of <paramref name="splitSize"/> along dim; the last may be smaller
    /// (torch.split with an int).</summary>
    public Tensor[] Split(int splitSize, int dim = 0)
    {
        int d = ShapeUtil.NormalizeDim(dim, Rank);
        int n = _shape[d];
        if (n == 0) return [Narrow(d, 0, 0)];
        if (splitSize <= 0) throw new ArgumentException($"Split: splitSize must be positive, got {splitSize} (dim {d} of shape {ShapeUtil.Format(_shape)}).");
        var parts = new Tensor[(n + splitSize - 1) / splitSize];
        for (int k = 0; k < parts.Length; k++)
            parts[k] = Narrow(d, k * splitSize, Math.Min(splitSize, n - k * splitSize));
        return parts;
    }

    /// <summary>Views of the given sizes along dim; they must add up to the dim's size (torch.split with a list).</summary>
    public Tensor[] Split(int[] sizes, int dim = 0)
    {
        ArgumentNullException.ThrowIfNull(sizes);
        int d = ShapeUtil.NormalizeDim(dim, Rank);
        long sum = 0;
        foreach (int s in sizes)
        {
            if (s < 0) throw new ArgumentException($"Split: sizes must be non-negative, got ({string.Join(", ", sizes)}).");
            sum += s;
        }
        if (sum != _shape[d])
            throw new ArgumentException($"Split: sizes ({string.Join(", ", sizes)}) add up to {sum}, but dim {d} of shape {ShapeUtil.Format(_shape)} has {_shape[d]}.");
        var parts = new Tensor[sizes.Length];
        int offset = 0;
        for (int k = 0; k < sizes.Length; k++) { parts[k] = Narrow(d, offset, sizes[k]); offset += sizes[k]; }
        return parts;
    }

    /// <summary>Splits into pieces of ceil(size / chunks) along dim, so possibly fewer than
    /// <paramref name="chunks"/> pieces (torch.chunk). Views.</summary>
    public Tensor[] Chunk(int chunks, int dim = 0)
    {
        if (chunks <= 0) throw new ArgumentException($"Chunk: chunks must be positive, got {chunks}.");
        int d = ShapeUtil.NormalizeDim(dim, Rank);
        int n = _shape[d];
        if (n == 0) return Enumerable.Range(0, chunks).Select(_ => Narrow(d, 0, 0)).ToArray();
        return Split((n + chunks - 1) / chunks, d);
    }

    /// <summary>Constant padding (torch.nn.functional.pad, mode "constant"): <paramref name="pad"/> holds
    /// (before, after) pairs starting from the last dim: (left, right, top, bottom, ...). Negative values crop.</summary>
    public Tensor Pad(int[] pad, double value = 0)
    {
        ArgumentNullException.ThrowIfNull(pad);
        if (pad.Length % 2 != 0 || pad.Length > 2 * Rank)
            throw new ArgumentException($"Pad: needs an even number of values, at most 2 per dim; got {pad.Length} for shape {ShapeUtil.Format(_shape)}.");
        if (GradHook.Wants(this))
        {
            Tensor raw;
            using (GradHook.Pause()) raw = Pad(pad, value);
            return GradHook.Recorder!.Pad(this, (int[])pad.Clone(), raw);
        }
        var shape = ShapeArray();
        var src = this;
        var dstStart = new int[Rank];
        for (int i = 0; i < pad.Length / 2; i++)
        {
            int d = Rank - 1 - i, before = pad[2 * i], after = pad[2 * i + 1];
            long size = (long)_shape[d] + before + after;
            if (size < 0)
                throw new ArgumentException($"Pad: ({before}, {after}) on dim {d} of shape {ShapeUtil.Format(_shape)} gives negative size {size}.");
            shape[d] = checked((int)size);
            // The part of the input that survives the crop, and where it lands in the output.
            int from = Math.Max(0, -before), to = _shape[d] - Math.Max(0, -after);
            src = src.Narrow(d, Math.Min(from, _shape[d]), Math.Max(0, to - from));
            dstStart[d] = Math.Max(0, before);
        }
        var r = Empty(shape, DType, Backend, zeroed: value == 0);
        if (value != 0) Backend.Fill(r, value);
        if (src.NumElements == 0) return r;
        var target = r;
        for (int d = 0; d < Rank; d++) target = target.Narrow(d, dstStart[d], src.Shape[d]);
        Backend.Copy(src, target);
        return r;
    }
}
