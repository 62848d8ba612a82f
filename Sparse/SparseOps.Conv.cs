using Sparkle.Autograd;
using Sparkle.Tensors;
using Sparkle.Tensors.Backend;

namespace Sparkle.Sparse;

/// <summary>
/// Differentiable sparse operators (submanifold semantics; see docs/sparse.md). Inputs and outputs are dense
/// (B, C, H, W) tensors with exact zeros at masked sites; inside, only active sites are read and computed, by the kernels
/// of the input's device behind the seam (<see cref="IBackend.SparseConv2dForward"/>): the same algorithm on every device.
/// </summary>
public static partial class SparseOps
{
    /// <summary>
    /// Submanifold conv2d: an output site is computed iff it is active at the output resolution, reading only active
    /// input sites (masked inputs count as zero, whatever their value); masked outputs are exactly zero. Equal to
    /// <see cref="MaskedDense.Conv2d(Tensor, Tensor, Tensor?, int[], int[], int[], int, SparseContext)"/>. The output has the
    /// input's layout (NCHW-contiguous or channels-last). <paramref name="options"/> picks the kernel where a backend has
    /// several (default: its best).
    /// </summary>
    public static Tensor Conv2d(Tensor input, Tensor weight, Tensor? bias, int[] stride, int[] padding, int[] dilation, int groups,
        SparseContext? context = null, SparseConvOptions? options = null)
    {
        const string op = "SparseConv2d";
        var ctx = context ?? SparseContext.Require(op);
        if (input.Rank != 4 || weight.Rank != 4)
            throw new ArgumentException($"{op}: expected (N, C, H, W) input and (O, C/groups, KH, KW) weight, got {ShapeUtil.Format(input.Shape)} and {ShapeUtil.Format(weight.Shape)}.");
        int n = input.Size(0), c = input.Size(1), h = input.Size(2), w = input.Size(3), o = weight.Size(0);
        if (groups < 1 || c % groups != 0 || o % groups != 0 || weight.Size(1) != c / groups)
            throw new ArgumentException($"{op}: input {ShapeUtil.Format(input.Shape)} and weight {ShapeUtil.Format(weight.Shape)} do not fit groups={groups}.");
        if (bias is not null && (bias.Rank != 1 || bias.Size(0) != o))
            throw new ArgumentException($"{op}: bias must have shape ({o}), got {ShapeUtil.Format(bias.Shape)}.");
        if (n != ctx.Mask.Batch)
            throw new ArgumentException($"{op}: input batch {n} differs from the mask's batch {ctx.Mask.Batch}.");
        if (input.DType != weight.DType || (bias is not null && bias.DType != weight.DType))
            throw new InvalidOperationException($"{op}: dtypes differ: input {input.DType.Name()}, weight {weight.DType.Name()}.");
        if (input.DType is not (DType.Float32 or DType.Float64))
            throw new InvalidOperationException($"{op} needs float32 or float64, got {input.DType.Name()}.");
        if (weight.Device != input.Device || (bias is not null && bias.Device != input.Device))
            throw new InvalidOperationException($"{op}: input on {input.Device}, weight on {weight.Device}{(bias is null ? "" : $", bias on {bias.Device}")}.");
        var (sh, sw) = Pair(stride); var (ph, pw) = Pair(padding); var (dh, dw) = Pair(dilation);
        var g = new ConvGeometry(weight.Size(2), weight.Size(3), sh, sw, ph, pw, dh, dw, h, w);
        if (g.OutH <= 0 || g.OutW <= 0) throw new ArgumentException($"{op}: geometry {g} gives an empty output.");
        ctx.Mask.RepeatFactors(h, w, op);
        var map = ctx.ConvMap(g, input.Device);
        var opts = options ?? SparseConvOptions.Default;
        var backend = input.Backend;
        bool needs = Differentiable.NeedsGrad(input, weight, bias);
        bool gw = needs && weight.RequiresGrad;
        var (y, kept) = backend.SparseConv2dForward(input, weight, bias, map, groups, keepForWeightGrad: gw, opts);
        if (!needs) return y;
        bool gx = input.RequiresGrad, gb = bias?.RequiresGrad == true;
        // The weight gradient reads the forward's gathered rows (kept until the first backward) or, on a second
        // backward, the input again.
        Tensor? savedX = gw ? input.Detach() : null;
        return Differentiable.Record("SparseConv2d", y, [input, weight, bias], gy =>
        {
            var (dx, dwt, db) = backend.SparseConv2dBackward(gy, savedX, kept, weight, map, groups, gx, gw, gb, opts);
            return [dx, dwt, db];
        }, input, weight);
    }

    internal static (int, int) Pair(int[] v) => v.Length switch
    {
        1 => (v[0], v[0]),
        2 => (v[0], v[1]),
        _ => throw new ArgumentException($"Expected 1 or 2 values, got {v.Length}."),
    };
}
