namespace Sparkle.Tensors.Backend;

/// <summary>
/// The device seam (DESIGN.md §2.4): the small set of primitives every device implements.
/// Composite ops (cat, pad, var, matmul broadcasting, ...) are written once above it, in Tensor.
///
/// Contract for all methods: the caller has already checked shapes, dtypes and devices, so every
/// tensor argument lives on this backend's device. Output tensors (<c>dst</c>) are freshly allocated and
/// contiguous unless the method says otherwise; inputs may have any strides, including 0 (broadcast).
/// </summary>
public partial interface IBackend
{
    Device Device { get; }

    /// <summary>A storage of <paramref name="length"/> elements, zero-filled when <paramref name="zeroed"/>;
    /// otherwise its contents are unspecified (for outputs that a kernel overwrites completely).</summary>
    Storage Allocate(DType dtype, int length, bool zeroed = true);

    /// <summary>A storage holding a copy of host data.</summary>
    Storage FromHost<T>(ReadOnlySpan<T> data) where T : unmanaged;

    /// <summary>Copies the elements of <paramref name="src"/> (any strides, dtype T) to the host in row-major order.</summary>
    void CopyToHost<T>(Tensor src, Span<T> dst) where T : unmanaged;

    /// <summary>dst[i] = (dst.dtype) src[i]. Same shape; dst may be any non-overlapping view (writes in place);
    /// src may be broadcast (0 strides). Float to int truncates toward zero; to bool is x != 0.</summary>
    void Copy(Tensor src, Tensor dst);

    /// <summary>Writes <paramref name="value"/> into every element of the view dst (any strides).</summary>
    void Fill(Tensor dst, double value);

    /// <summary>dst = op(x). x and dst have the same shape and dtype (bool for predicates).
    /// <paramref name="p0"/>, <paramref name="p1"/> are the op's scalar parameters (see <see cref="UnaryOp"/>).
    /// In-place ops pass dst = x (the same view, any strides without stride 0).</summary>
    void Unary(UnaryOp op, Tensor x, Tensor dst, double p0 = 0, double p1 = 0);

    /// <summary>dst = a op b. a and b have dst's shape (broadcast already expressed as 0 strides) and the
    /// same dtype; dst has that dtype, or Bool for comparisons. In-place ops pass dst = a (the same view, any
    /// strides without stride 0); b may then be broadcast.</summary>
    void Binary(BinaryOp op, Tensor a, Tensor b, Tensor dst);

    /// <summary>dst = cond ? a : b. cond is Bool; all have dst's shape (0 strides for broadcast).</summary>
    void Where(Tensor cond, Tensor a, Tensor b, Tensor dst);

    /// <summary>Reduces x over <paramref name="axes"/> (sorted, distinct). dst has x's shape with
    /// those axes set to 1 (keepdim form). Var uses <paramref name="correction"/> (0 biased, 1 unbiased).</summary>
    void Reduce(ReduceOp op, Tensor x, ReadOnlySpan<int> axes, Tensor dst, int correction = 0);

    /// <summary>Index (Int64) of the max/min along <paramref name="axis"/>; first occurrence wins.
    /// dst has x's shape with that axis set to 1.</summary>
    void ArgReduce(ArgReduceOp op, Tensor x, int axis, Tensor dst);

    /// <summary>Batched matrix product dst[b] = a[b] @ b[b] (+ dst[b] when <paramref name="accumulate"/>).
    /// a is (B, M, K), b is (B, K, N), any strides (batch stride 0 = broadcast); dst is (B, M, N) contiguous.
    /// Float32 or Float64.</summary>
    void MatMul(Tensor a, Tensor b, Tensor dst, bool accumulate = false);

    /// <summary>dst = x.index_select(dim, index); index is 1-D Int64 or Int32.</summary>
    void IndexSelect(Tensor x, int dim, Tensor index, Tensor dst);

    /// <summary>dst = torch.gather(x, dim, index); index has dst's shape.</summary>
    void Gather(Tensor x, int dim, Tensor index, Tensor dst);

    /// <summary>In place: dst.scatter_add_(dim, index, src). dst is contiguous.</summary>
    void ScatterAdd(Tensor dst, int dim, Tensor index, Tensor src);

    /// <summary>Fills contiguous dst with random numbers. Element i uses only (seed, offset + i), so
    /// the result does not depend on thread count or device (see <see cref="Philox"/>).</summary>
    void Random(RandomSpec spec, Tensor dst, ulong seed, ulong offset);

    // ---- convolution (the CPU backend implements these in Tensors/Cpu/Conv; other devices may not yet) ----
    // Layouts: activations are NCHW-shaped tensors with any strides; a backend may prefer channels-last
    // (NHWC strides). dst is fresh, written completely, and either contiguous or channels-last.

    /// <summary>dst = conv2d(input, weight) + bias. input (N, C, H, W), weight (O, C/groups, KH, KW), bias (O) or null,
    /// dst (N, O, OH, OW): its OH, OW are taken as given (the caller checks them against the input size).</summary>
    void Conv2dForward(Tensor input, Tensor weight, Tensor? bias, Tensor dst, in Conv2dParams p)
        => throw new NotSupportedException($"{GetType().Name} ({Device}) does not implement Conv2dForward.");

    /// <summary>gradInput = the gradient of conv2d with respect to its input (a transposed convolution of
    /// gradOutput). gradOutput (N, O, OH, OW), weight (O, C/groups, KH, KW), gradInput (N, C, H, W) with H, W as given:
    /// positions no output reads get 0. Also the forward of ConvTranspose2d.</summary>
    void Conv2dBackwardInput(Tensor gradOutput, Tensor weight, Tensor gradInput, in Conv2dParams p)
        => throw new NotSupportedException($"{GetType().Name} ({Device}) does not implement Conv2dBackwardInput.");

    /// <summary>gradWeight = the gradient of conv2d with respect to its weight: gradOutput (N, O, OH, OW) correlated
    /// with input (N, C, H, W), summed over the batch. gradWeight (O, C/groups, KH, KW).</summary>
    void Conv2dBackwardWeight(Tensor gradOutput, Tensor input, Tensor gradWeight, in Conv2dParams p)
        => throw new NotSupportedException($"{GetType().Name} ({Device}) does not implement Conv2dBackwardWeight.");
}
