using Sparkle.Tensors.Autograd;
using Sparkle.Tensors.Backend;

namespace Sparkle.Tensors;

/// <summary>
/// Reductions over any set of axes (none given = all; negative axes count from the end), with keepDim.
/// Sum of bool/int32/int64 gives int64; Mean and Var need floating tensors; Max/Min keep the dtype and
/// propagate NaN. Results do not depend on the thread count (fixed summation order, docs/elementwise.md).
/// </summary>
public sealed partial class Tensor
{
    public Tensor Sum(params int[] axes) => Sum(axes, false);
    public Tensor Sum(int[]? axes, bool keepDim) => ReduceCore("Sum", ReduceOp.Sum, axes, keepDim);

    public Tensor Mean(params int[] axes) => Mean(axes, false);
    public Tensor Mean(int[]? axes, bool keepDim) => ReduceCore("Mean", ReduceOp.Mean, axes, keepDim);

    /// <summary>Variance, two-pass (mean, then the sum of squared deviations). correction 1 divides by n-1
    /// (unbiased, torch's default), 0 by n (biased).</summary>
    public Tensor Var(int[]? axes = null, int correction = 1, bool keepDim = false)
    {
        if (correction < 0) throw new ArgumentOutOfRangeException(nameof(correction), $"Var: correction must be >= 0, got {correction}.");
        return ReduceCore("Var", ReduceOp.Var, axes, keepDim, correction);
    }

    /// <summary>Largest value over the axes (torch.amax); NaN propagates.</summary>
    public Tensor Max(params int[] axes) => Max(axes, false);
    public Tensor Max(int[]? axes, bool keepDim) => ReduceCore("Max", ReduceOp.Max, axes, keepDim);

    public Tensor Min(params int[] axes) => Min(axes, false);
    public Tensor Min(int[]? axes, bool keepDim) => ReduceCore("Min", ReduceOp.Min, axes, keepDim);

    /// <summary>Int64 index of the largest value along dim; the first one wins on ties; a NaN counts as largest.</summary>
    public Tensor ArgMax(int dim, bool keepDim = false) => ArgCore("ArgMax", ArgReduceOp.ArgMax, dim, keepDim);
    public Tensor ArgMin(int dim, bool keepDim = false) => ArgCore("ArgMin", ArgReduceOp.ArgMin, dim, keepDim);

    /// <summary>Index into the flattened tensor (a 0-d Int64 tensor).</summary>
    public Tensor ArgMax() => Flat().ArgCore("ArgMax", ArgReduceOp.ArgMax, 0, false);
    public Tensor ArgMin() => Flat().ArgCore("ArgMin", ArgReduceOp.ArgMin, 0, false);

    private Tensor Flat() => Rank == 0 ? this : Reshape(-1);

    private Tensor ReduceCore(string name, ReduceOp op, int[]? axes, bool keepDim, int correction = 0)
    {
        var ax = NormalizeAxes(name, axes);
        if (GradHook.Wants(this))
        {
            Tensor raw;
            using (GradHook.Pause()) raw = ReduceCore(name, op, ax, keepDim, correction);
            return GradHook.Recorder!.Reduce(op, this, ax, keepDim, correction, raw);
        }
        var src = this;
        switch (op)
        {
            case ReduceOp.Sum when !DType.IsFloating(): src = To(DType.Int64); break;
            case ReduceOp.Mean or ReduceOp.Var: CheckFloating(name, this); break;
            case ReduceOp.Max or ReduceOp.Min when ReducedCount(ax) == 0:
                throw new InvalidOperationException($"{name}: cannot reduce over zero elements (shape {ShapeUtil.Format(Shape)}, axes ({string.Join(", ", ax)})).");
        }
        var keep = ShapeArray();
        foreach (int a in ax) keep[a] = 1;
        var dst = src.NewEmpty(keep, src.DType);
        Backend.Reduce(op, src, ax, dst, correction);
        return keepDim ? dst : dst.View(DropAxes(keep, ax));
    }

    private Tensor ArgCore(string name, ArgReduceOp op, int dim, bool keepDim)
    {
        int d = ShapeUtil.NormalizeDim(dim, Rank);
        if (Rank == 0) return Scalar(0, DType.Int64, Device);
        if (_shape[d] == 0)
            throw new InvalidOperationException($"{name}: dim {dim} of shape {ShapeUtil.Format(Shape)} is empty.");
        var keep = ShapeArray();
        keep[d] = 1;
        var dst = NewEmpty(keep, DType.Int64);
        Backend.ArgReduce(op, this, d, dst);
        return keepDim ? dst : dst.View(DropAxes(keep, [d]));
    }

    /// <summary>Sorted distinct axes in [0, rank); null or empty means all.</summary>
    private int[] NormalizeAxes(string name, int[]? axes)
    {
        if (axes is null || axes.Length == 0) return Enumerable.Range(0, Rank).ToArray();
        var r = axes.Select(a => ShapeUtil.NormalizeDim(a, Rank, "axis")).ToArray();
        Array.Sort(r);
        for (int i = 1; i < r.Length; i++)
            if (r[i] == r[i - 1])
                throw new ArgumentException($"{name}: axis {r[i]} appears twice in ({string.Join(", ", axes)}) for shape {ShapeUtil.Format(Shape)}.");
        if (Rank == 0) return [];
        return r;
    }

    private int ReducedCount(int[] axes)
    {
        int n = 1;
        foreach (int a in axes) n *= _shape[a];
        return n;
    }

    private static int[] DropAxes(int[] shape, int[] axes)
    {
        var r = new List<int>();
        for (int i = 0; i < shape.Length; i++) if (!axes.Contains(i)) r.Add(shape[i]);
        return [.. r];
    }
}
