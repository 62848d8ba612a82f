using Sparkle.Tensors.Autograd;
using Sparkle.Tensors.Backend;

namespace Sparkle.Tensors;

/// <summary>Ops that return views sharing storage (no copy), plus Contiguous/Clone/To.</summary>
public sealed partial class Tensor
{
    private Tensor WithLayout(int offset, int[] shape, int[] strides) => new(Storage, offset, shape, strides);

    // Views record themselves (no pause needed: WithLayout calls no other op). Each returns y unchanged
    // unless this tensor requires grad and grad mode is on.
    private Tensor RecordReshape(Tensor y) => GradHook.Wants(this) ? GradHook.Recorder!.Reshape(this, y) : y;
    private Tensor RecordCopy(Tensor y) => GradHook.Wants(this) ? GradHook.Recorder!.Copy(this, y) : y;

    /// <summary>A view with a new shape; throws when the strides do not allow it (use Reshape then).</summary>
    public Tensor View(params int[] shape)
    {
        var s = ShapeUtil.InferShape(shape, NumElements);
        var st = ShapeUtil.ViewStrides(_shape, _strides, s)
            ?? throw new InvalidOperationException($"View {ShapeUtil.Format(s)} is not possible on a tensor of shape {ShapeUtil.Format(_shape)} with strides {ShapeUtil.Format(_strides)}; call Reshape (copies) or Contiguous() first.");
        return RecordReshape(WithLayout(Offset, s, st));
    }

    /// <summary>A view when the strides allow it, otherwise a contiguous copy (torch.reshape).</summary>
    public Tensor Reshape(params int[] shape)
    {
        var s = ShapeUtil.InferShape(shape, NumElements);
        var st = ShapeUtil.ViewStrides(_shape, _strides, s);
        return st is null ? Contiguous().View(s) : RecordReshape(WithLayout(Offset, s, st));
    }

    public Tensor Flatten(int startDim = 0, int endDim = -1)
    {
        if (Rank == 0) return Reshape(1);
        int a = ShapeUtil.NormalizeDim(startDim, Rank, "startDim"), b = ShapeUtil.NormalizeDim(endDim, Rank, "endDim");
        if (a > b) throw new ArgumentException($"Flatten: startDim {startDim} comes after endDim {endDim} for shape {ShapeUtil.Format(_shape)}.");
        var s = new List<int>(_shape[..a]);
        int prod = 1;
        for (int i = a; i <= b; i++) prod *= _shape[i];
        s.Add(prod);
        s.AddRange(_shape[(b + 1)..]);
        return Reshape([.. s]);
    }

    public Tensor Permute(params int[] dims)
    {
        if (dims.Length != Rank) throw new ArgumentException($"Permute: {dims.Length} dims given for a tensor of rank {Rank}.");
        var seen = new bool[Rank];
        var s = new int[Rank]; var st = new int[Rank];
        for (int i = 0; i < Rank; i++)
        {
            int d = ShapeUtil.NormalizeDim(dims[i], Rank);
            if (seen[d]) throw new ArgumentException($"Permute: dim {d} repeated in ({string.Join(", ", dims)}).");
            seen[d] = true;
            s[i] = _shape[d]; st[i] = _strides[d];
        }
        var y = WithLayout(Offset, s, st);
        return GradHook.Wants(this) ? GradHook.Recorder!.Permute(this, dims.Select(d => ShapeUtil.NormalizeDim(d, Rank)).ToArray(), y) : y;
    }

    public Tensor Transpose(int dim0, int dim1)
    {
        int a = ShapeUtil.NormalizeDim(dim0, Rank), b = ShapeUtil.NormalizeDim(dim1, Rank);
        var s = ShapeArray(); var st = StridesArray();
        (s[a], s[b]) = (s[b], s[a]);
        (st[a], st[b]) = (st[b], st[a]);
        var y = WithLayout(Offset, s, st);
        if (!GradHook.Wants(this)) return y;
        var perm = Enumerable.Range(0, Rank).ToArray();
        (perm[a], perm[b]) = (perm[b], perm[a]);
        return GradHook.Recorder!.Permute(this, perm, y);
    }

    /// <summary>Transpose of a 2-D tensor.</summary>
    public Tensor T => Rank == 2 ? Transpose(0, 1) : throw new InvalidOperationException($"T needs a 2-D tensor, got shape {ShapeUtil.Format(_shape)}.");

    /// <summary>Elements start, start+step, ... below end along dim (Python slicing; negative start/end count from the end, clamped).</summary>
    public Tensor Slice(int dim, int start, int end, int step = 1)
    {
        int d = ShapeUtil.NormalizeDim(dim, Rank);
        if (step <= 0) throw new ArgumentException($"Slice step must be positive, got {step}.");
        int n = _shape[d];
        if (start < 0) start += n;
        if (end < 0) end += n;
        start = Math.Clamp(start, 0, n);
        end = Math.Clamp(end, start, n);
        var s = ShapeArray(); var st = StridesArray();
        s[d] = (end - start + step - 1) / step;
        st[d] = _strides[d] * step;
        var y = WithLayout(Offset + start * _strides[d], s, st);
        return GradHook.Wants(this) ? GradHook.Recorder!.Slice(this, d, start, step, y) : y;
    }

    /// <summary>length elements from start along dim (torch.narrow; bounds are checked, not clamped).</summary>
    public Tensor Narrow(int dim, int start, int length)
    {
        int d = ShapeUtil.NormalizeDim(dim, Rank);
        if (start < 0) start += _shape[d];
        if (start < 0 || length < 0 || start + length > _shape[d])
            throw new ArgumentOutOfRangeException(nameof(start), $"Narrow({dim}, {start}, {length}) is out of range for shape {ShapeUtil.Format(_shape)}.");
        var s = ShapeArray();
        s[d] = length;
        var y = WithLayout(Offset + start * _strides[d], s, StridesArray());
        return GradHook.Wants(this) ? GradHook.Recorder!.Slice(this, d, start, 1, y) : y;
    }

    /// <summary>The slice at index along dim, with that dim removed (x[:, i] in PyTorch).</summary>
    public Tensor Select(int dim, int index)
    {
        int d = ShapeUtil.NormalizeDim(dim, Rank);
        if (index < 0) index += _shape[d];
        if (index < 0 || index >= _shape[d])
            throw new ArgumentOutOfRangeException(nameof(index), $"Select index {index} is out of range for dim {d} of shape {ShapeUtil.Format(_shape)}.");
        var s = new List<int>(_shape); var st = new List<int>(_strides);
        s.RemoveAt(d); st.RemoveAt(d);
        var y = WithLayout(Offset + index * _strides[d], [.. s], [.. st]);
        return GradHook.Wants(this) ? GradHook.Recorder!.Select(this, d, index, y) : y;
    }

    /// <summary>Broadcasts to a larger shape with stride-0 dims (torch.expand; -1 keeps a dim).</summary>
    public Tensor Expand(params int[] shape)
    {
        if (shape.Length < Rank)
            throw new ArgumentException($"Expand: target {ShapeUtil.Format(shape)} has fewer dims than {ShapeUtil.Format(_shape)}.");
        int lead = shape.Length - Rank;
        var s = new int[shape.Length]; var st = new int[shape.Length];
        for (int i = 0; i < shape.Length; i++)
        {
            if (i < lead)
            {
                if (shape[i] < 0) throw new ArgumentException($"Expand: -1 is not allowed for new leading dim {i} in {ShapeUtil.Format(shape)}.");
                s[i] = shape[i]; st[i] = 0; continue;
            }
            int own = _shape[i - lead];
            int want = shape[i] == -1 ? own : shape[i];
            if (own == want) { s[i] = own; st[i] = _strides[i - lead]; }
            else if (own == 1) { s[i] = want; st[i] = 0; }
            else throw new ArgumentException($"Expand: cannot expand shape {ShapeUtil.Format(_shape)} to {ShapeUtil.Format(shape)} (dim {i}: {own} vs {want}).");
        }
        var y = WithLayout(Offset, s, st);
        return GradHook.Wants(this) ? GradHook.Recorder!.Expand(this, y) : y;
    }

    public Tensor BroadcastTo(params int[] shape) => Expand(shape);

    /// <summary>Removes all size-1 dims, or only <paramref name="dim"/> when given and of size 1.</summary>
    public Tensor Squeeze(int? dim = null)
    {
        var s = new List<int>(); var st = new List<int>();
        int only = dim is int dd ? ShapeUtil.NormalizeDim(dd, Rank) : -1;
        for (int i = 0; i < Rank; i++)
        {
            bool drop = _shape[i] == 1 && (only < 0 || only == i);
            if (!drop) { s.Add(_shape[i]); st.Add(_strides[i]); }
        }
        return RecordReshape(WithLayout(Offset, [.. s], [.. st]));
    }

    public Tensor Unsqueeze(int dim)
    {
        int d = ShapeUtil.NormalizeDim(dim, Rank + 1);
        var s = new List<int>(_shape); var st = new List<int>(_strides);
        int stride = d < Rank ? _strides[d] * _shape[d] : 1;
        s.Insert(d, 1); st.Insert(d, stride);
        return RecordReshape(WithLayout(Offset, [.. s], [.. st]));
    }

    /// <summary>This tensor if already contiguous, else a contiguous copy.</summary>
    public Tensor Contiguous() => IsContiguous ? this : Clone();

    /// <summary>A contiguous copy with its own storage.</summary>
    public Tensor Clone()
    {
        var r = NewEmpty(_shape, DType);
        Backend.Copy(this, r);
        return RecordCopy(r);
    }

    /// <summary>Converts the dtype (a copy; returns this when the dtype already matches).</summary>
    public Tensor To(DType dtype)
    {
        if (dtype == DType) return this;
        var r = NewEmpty(_shape, dtype);
        Backend.Copy(this, r);
        return dtype.IsFloating() ? RecordCopy(r) : r;
    }

    /// <summary>The only way data crosses devices. Returns this when already there.</summary>
    public Tensor To(Device device)
    {
        if (device == Device) return this;
        var target = Backends.For(device);
        Tensor src;
        using (GradHook.Pause()) src = Contiguous();
        Storage st = DType switch
        {
            DType.Float32 => target.FromHost<float>(src.ToArray<float>()),
            DType.Float64 => target.FromHost<double>(src.ToArray<double>()),
            DType.Int32 => target.FromHost<int>(src.ToArray<int>()),
            DType.Int64 => target.FromHost<long>(src.ToArray<long>()),
            DType.Bool => target.FromHost<bool>(src.ToArray<bool>()),
            _ => throw new NotSupportedException(DType.Name()),
        };
        return RecordCopy(new Tensor(st, 0, ShapeArray(), ShapeUtil.ContiguousStrides(_shape)));
    }
}
