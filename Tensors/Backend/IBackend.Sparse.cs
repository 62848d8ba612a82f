namespace Sparkle.Tensors.Backend;

/// <summary>
/// SparK's active-site kernels (DESIGN.md §2.7, docs/sparse.md): sparse tensors are dense (N, C, H, W) maps with exact
/// zeros at masked sites; inside, only active sites are read and computed. A "rows" matrix is (Count, C) contiguous
/// row-major, one row per active site in <see cref="SparseSites.Sites"/> order. Index tensors live on this backend's
/// device. The autograd recording lives in Sparse/ (SparseOps); these are its raw kernels.
/// </summary>
public partial interface IBackend
{
    /// <summary>rows[r, c] = x[b, c, y, x] for the site Sites[r] = (b·H + y)·W + x. x (N, C, H, W) any strides; rows
    /// (Count, C) contiguous, same dtype.</summary>
    void SparseGather(Tensor x, SparseSites sites, Tensor rows)
        => throw new NotSupportedException($"{GetType().Name} ({Device}) does not implement SparseGather.");

    /// <summary>The dense (N, C, H, W) map of rows (Count, C): row r at site Sites[r], 0 at every masked site. The result
    /// is fresh and NCHW-contiguous, or channels-last (NHWC strides) when <paramref name="channelsLast"/>.</summary>
    Tensor SparseScatter(Tensor rows, SparseSites sites, bool channelsLast)
        => throw new NotSupportedException($"{GetType().Name} ({Device}) does not implement SparseScatter.");

    /// <summary>
    /// Submanifold conv2d forward: an output site is computed iff it is active at the output resolution, reading only
    /// active input sites (masked inputs count as zero whatever their value); masked outputs are exactly 0. input (N, C,
    /// H, W) any strides; weight (O, C/groups, KH, KW); bias (O) or null. Returns the output (N, O, OH, OW), fresh, in the
    /// input's layout (channels-last when the input is), and an opaque state the backend wants back in
    /// <see cref="SparseConv2dBackward"/> (e.g. the kernel it chose and, when <paramref name="keepForWeightGrad"/>, the
    /// gathered input rows for the weight gradient), or null.
    /// </summary>
    (Tensor Output, object? Kept) SparseConv2dForward(Tensor input, Tensor weight, Tensor? bias, SparseConvMap map, int groups, bool keepForWeightGrad,
        SparseConvOptions options)
        => throw new NotSupportedException($"{GetType().Name} ({Device}) does not implement SparseConv2dForward.");

    /// <summary>
    /// Submanifold conv2d backward for the gradients asked for: gradInput (N, C, H, W) in gradOutput's layout, 0 at masked
    /// sites; gradWeight (weight's shape); gradBias (O). <paramref name="input"/> is needed for the weight gradient unless
    /// <paramref name="kept"/> (from the forward) holds what it needs; <paramref name="kept"/> is given back once and the
    /// backend may recycle it.
    /// </summary>
    (Tensor? GradInput, Tensor? GradWeight, Tensor? GradBias) SparseConv2dBackward(Tensor gradOutput, Tensor? input, object? kept,
        Tensor weight, SparseConvMap map, int groups, bool needInput, bool needWeight, bool needBias, SparseConvOptions options)
        => throw new NotSupportedException($"{GetType().Name} ({Device}) does not implement SparseConv2dBackward.");
}
