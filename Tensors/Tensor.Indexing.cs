using Sparkle.Tensors.Autograd;
namespace Sparkle.Tensors;

/// <summary>
/// Indexing ops (PyTorch semantics). Index tensors are Int64 or Int32; indices must lie in [0, size)
/// (negative indices are errors, as in torch). The kernels live behind the seam (IBackend.IndexSelect,
/// Gather, ScatterAdd); RepeatInterleave, OneHot and MaskedSelect are built from them here.
/// </summary>
public sealed partial class Tensor
{
    /// <summary>The slices of dim listed by a 1-D <paramref name="index"/> (torch.index_select).
    /// The result has this shape with dim's size replaced by the index length.</summary>
    public Tensor IndexSelect(int dim, Tensor index)
    {
        CheckIndexTensor("IndexSelect", index);
        if (GradHook.Wants(this))
        {
            Tensor raw;
            using (GradHook.Pause()) raw = IndexSelect(dim, index);
            return GradHook.Recorder!.IndexSelect(this, dim, index, raw);
        }
        if (index.Rank > 1)
            throw new ArgumentException($"IndexSelect: index must be 0-D or 1-D, got shape {ShapeUtil.Format(index.Shape)}.");
        if (Rank == 0)
        {
            if (index.NumElements != 1)
                throw new ArgumentException($"IndexSelect: indexing a 0-D tensor needs exactly one index, got shape {ShapeUtil.Format(index.Shape)}.");
            return AtLeast1D().IndexSelect(0, index.AtLeast1D()).Reshape();
        }
        int d = ShapeUtil.NormalizeDim(dim, Rank);
        var shape = ShapeArray();
        shape[d] = index.NumElements;
        var r = NewEmpty(shape, DType);
        Backend.IndexSelect(this, d, index, r);
        return r;
    }

    /// <summary>out[i][j][k] = this[index[i][j][k]][j][k] for dim 0, and so on (torch.gather). index has this
    /// tensor's rank and is no larger in any dim but <paramref name="dim"/>; the result has index's shape.</summary>
    public Tensor Gather(int dim, Tensor index)
    {
        CheckIndexTensor("Gather", index);
        if (GradHook.Wants(this))
        {
            Tensor raw;
            using (GradHook.Pause()) raw = Gather(dim, index);
            return GradHook.Recorder!.Gather(this, dim, index, raw);
        }
        if (Rank == 0 && index.Rank == 0) return AtLeast1D().Gather(0, index.AtLeast1D()).Reshape();
        int d = ShapeUtil.NormalizeDim(dim, Rank);
        CheckIndexFits("Gather", "input", this, index, d);
        var r = NewEmpty(index.Shape, DType);
        Backend.Gather(this, d, index, r);
        return r;
    }

    /// <summary>A copy of this tensor with src added at the positions index names along dim (torch.scatter_add).</summary>
    public Tensor ScatterAdd(int dim, Tensor index, Tensor src)
    {
        if (!GradHook.Wants(this, src)) return Clone().ScatterAdd_(dim, index, src);
        Tensor raw;
        using (GradHook.Pause()) raw = Clone().ScatterAdd_(dim, index, src);
        return GradHook.Recorder!.ScatterAdd(this, dim, index, src, raw);
    }

    /// <summary>In place: this[..., index[p], ...] += src[p] along dim (torch.scatter_add_); this must be
    /// contiguous. The result does not depend on thread count (see ScatterAddKernel). Returns this.</summary>
    public Tensor ScatterAdd_(int dim, Tensor index, Tensor src)
    {
        CheckIndexTensor("ScatterAdd", index);
        BeginInPlaceWrite("ScatterAdd_");
        CheckSameDevice("ScatterAdd", this, src);
        CheckSameDType("ScatterAdd", this, src);
        if (!IsContiguous)
            throw new InvalidOperationException($"ScatterAdd_ needs a contiguous target, got shape {ShapeUtil.Format(_shape)} strides {ShapeUtil.Format(_strides)}; use ScatterAdd (out of place) or Contiguous() first.");
        if (Rank == 0 && index.Rank == 0 && src.Rank == 0)
        {
            AtLeast1D().ScatterAdd_(0, index.AtLeast1D(), src.AtLeast1D());
            return this;
        }
        int d = ShapeUtil.NormalizeDim(dim, Rank);
        CheckIndexFits("ScatterAdd", "self", this, index, d);
        if (src.Rank != index.Rank)
            throw new ArgumentException($"ScatterAdd: index {ShapeUtil.Format(index.Shape)} and src {ShapeUtil.Format(src.Shape)} must have the same rank.");
        for (int i = 0; i < index.Rank; i++)
            if (index.Shape[i] > src.Shape[i])
                throw new ArgumentException($"ScatterAdd: index {ShapeUtil.Format(index.Shape)} is larger than src {ShapeUtil.Format(src.Shape)} in dim {i}.");
        Backend.ScatterAdd(this, d, index, src);
        return this;
    }

    /// <summary>Repeats each element <paramref name="repeats"/> times along dim (torch.repeat_interleave);
    /// with no dim the input is flattened first.</summary>
    public Tensor RepeatInterleave(int repeats, int? dim = null)
    {
        if (repeats < 0) throw new ArgumentException($"RepeatInterleave: repeats must be non-negative, got {repeats}.");
        var x = dim is null ? AtLeast1D().Reshape(-1) : AtLeast1D();
        int d = ShapeUtil.NormalizeDim(dim ?? 0, x.Rank);
        // (.., n, ..) -> (.., n, repeats, ..) by a stride-0 view, copied into (.., n * repeats, ..).
        var expandedShape = new List<int>(x._shape);
        expandedShape.Insert(d + 1, repeats);
        var outShape = x.ShapeArray();
        outShape[d] = checked(outShape[d] * repeats);
        // Recorded as the same steps (unsqueeze, expand, reshape), whose gradient rules compose.
        if (GradHook.Wants(this)) return x.Unsqueeze(d + 1).Expand([.. expandedShape]).Reshape(outShape);
        var r = NewEmpty(outShape, DType);
        Backend.Copy(x.Unsqueeze(d + 1).Expand([.. expandedShape]), r.View([.. expandedShape]));
        return r;
    }

    /// <summary>Repeats slice i of dim repeats[i] times (torch.repeat_interleave with a tensor); repeats is
    /// an int tensor with one entry per slice, or a single entry for all.</summary>
    public Tensor RepeatInterleave(Tensor repeats, int dim)
    {
        CheckIndexTensor("RepeatInterleave", repeats, "repeats");
        var x = AtLeast1D();
        int d = ShapeUtil.NormalizeDim(dim, x.Rank);
        int n = x._shape[d];
        if (repeats.Rank > 1 || (repeats.NumElements != n && repeats.NumElements != 1))
            throw new ArgumentException($"RepeatInterleave: repeats of shape {ShapeUtil.Format(repeats.Shape)} must have one entry or {n} (dim {d} of shape {ShapeUtil.Format(x.Shape)}).");
        var counts = repeats.To(DType.Int64).ToArray<long>();
        long total = 0;
        foreach (long c in counts)
        {
            if (c < 0) throw new ArgumentException($"RepeatInterleave: repeats must be non-negative, got {c}.");
            total += counts.Length == 1 ? c * n : c;
        }
        if (total > int.MaxValue) throw new ArgumentException($"RepeatInterleave: {total} elements along dim {d} is too many.");
        var index = new long[total];
        int pos = 0;
        for (int i = 0; i < n; i++)
            for (long k = counts.Length == 1 ? counts[0] : counts[i]; k > 0; k--) index[pos++] = i;
        return x.IndexSelect(d, FromArray(index, device: Device));
    }

    /// <summary>torch.nn.functional.one_hot: an int tensor of class indices becomes an Int64 tensor with a
    /// trailing dim of <paramref name="numClasses"/> (-1: the largest index + 1). Indices outside
    /// [0, numClasses) are errors. Reads the indices on the host (one sync for device tensors).</summary>
    public Tensor OneHot(int numClasses = -1)
    {
        CheckIndexTensor("OneHot", this, "input");
        if (numClasses < -1) throw new ArgumentException($"OneHot: numClasses must be -1 or non-negative, got {numClasses}.");
        var values = To(DType.Int64).ToArray<long>();
        if (numClasses == -1)
        {
            if (values.Length == 0) throw new ArgumentException($"OneHot: cannot infer the number of classes from an empty tensor {ShapeUtil.Format(_shape)}.");
            long max = values.Max();
            if (max >= int.MaxValue) throw new ArgumentException($"OneHot: class index {max} is too large.");
            numClasses = (int)Math.Max(max + 1, 0);
        }
        foreach (long v in values)
            if (v < 0 || v >= numClasses)
                throw new ArgumentException($"OneHot: class index {v} is out of range [0, {numClasses}) (input shape {ShapeUtil.Format(_shape)}).");
        var shape = new List<int>(_shape) { numClasses };
        var r = NewZeros([.. shape], DType.Int64);
        if (NumElements == 0 || numClasses == 0) return r;
        var index = To(DType.Int64).Unsqueeze(-1);
        var ones = Full(Enumerable.Repeat(1, Rank + 1).ToArray(), 1, DType.Int64, Device).Expand(index.ShapeArray());
        return r.ScatterAdd_(-1, index, ones);
    }

    /// <summary>The elements where the Bool <paramref name="mask"/> (broadcast against this) is true, as a 1-D
    /// tensor in row-major order (torch.masked_select). Reads the mask on the host.</summary>
    public Tensor MaskedSelect(Tensor mask)
    {
        CheckSameDevice("MaskedSelect", this, mask);
        if (mask.DType != DType.Bool)
            throw new ArgumentException($"MaskedSelect: mask must be bool, got {mask.DType.Name()} {ShapeUtil.Format(mask.Shape)}.");
        var shape = ShapeUtil.Broadcast(_shape, mask.Shape);
        if (ShapeUtil.NumElements(shape) == 0) return NewEmpty([0], DType);
        var flags = mask.Expand(shape).ToArray<bool>();
        var index = new List<long>();
        for (int i = 0; i < flags.Length; i++) if (flags[i]) index.Add(i);
        return Expand(shape).AtLeast1D().Reshape(-1).IndexSelect(0, FromArray(index.ToArray(), device: Device));
    }

    /// <summary>A 0-D tensor as a (1) view, others unchanged. (Reshape(1) of a 0-D tensor is not a view in
    /// ShapeUtil.ViewStrides, so the 0-D cases go through Unsqueeze.)</summary>
    private Tensor AtLeast1D() => Rank == 0 ? Unsqueeze(0) : this;

    private void CheckIndexTensor(string op, Tensor index, string what = "index")
    {
        CheckSameDevice(op, this, index);
        if (index.DType is not (DType.Int64 or DType.Int32))
            throw new ArgumentException($"{op}: {what} must be int64 or int32, got {index.DType.Name()} {ShapeUtil.Format(index.Shape)}.");
    }

    /// <summary>torch's rule for gather/scatter: same rank, and index no larger than t in every dim but dim.</summary>
    private static void CheckIndexFits(string op, string name, Tensor t, Tensor index, int dim)
    {
        if (index.Rank != t.Rank)
            throw new ArgumentException($"{op}: index {ShapeUtil.Format(index.Shape)} must have the same rank as {name} {ShapeUtil.Format(t.Shape)}.");
        for (int i = 0; i < t.Rank; i++)
            if (i != dim && index.Shape[i] > t.Shape[i])
                throw new ArgumentException($"{op}: index {ShapeUtil.Format(index.Shape)} is larger than {name} {ShapeUtil.Format(t.Shape)} in dim {i} (only dim {dim} may differ).");
    }
}
