using Sparkle.Tensors.Autograd;
namespace Sparkle.Tensors;

/// <summary>Matrix products with torch.matmul / mm / bmm semantics, written once above the backend seam:
/// here shapes are checked, 1-D operands promoted, batch dims broadcast and flattened; the backend only
/// sees (B, M, K) @ (B, K, N).</summary>
public sealed partial class Tensor
{
    /// <summary>
    /// torch.matmul: 1-D·1-D is a dot product (0-d result); a 1-D left operand is treated as (1, K) and a 1-D
    /// right operand as (K, 1), with that dim removed from the result; 2-D is the matrix product; higher
    /// ranks are batches of matrices whose batch dims broadcast (NumPy rules). float32/float64.
    /// </summary>
    public Tensor MatMul(Tensor other) => MatMulCore("MatMul", this, other);

    /// <summary>torch.mm: the product of two 2-D tensors.</summary>
    public Tensor Mm(Tensor other)
    {
        if (Rank != 2 || other.Rank != 2)
            throw new ArgumentException($"Mm needs two 2-D tensors, got shapes {ShapeUtil.Format(Shape)} and {ShapeUtil.Format(other.Shape)}.");
        return MatMulCore("Mm", this, other);
    }

    /// <summary>torch.bmm: batched product of (B, M, K) and (B, K, N); batch sizes must be equal (no broadcasting).</summary>
    public Tensor Bmm(Tensor other)
    {
        if (Rank != 3 || other.Rank != 3)
            throw new ArgumentException($"Bmm needs two 3-D tensors, got shapes {ShapeUtil.Format(Shape)} and {ShapeUtil.Format(other.Shape)}.");
        if (Size(0) != other.Size(0))
            throw new ArgumentException($"Bmm: batch sizes differ: shapes {ShapeUtil.Format(Shape)} and {ShapeUtil.Format(other.Shape)}.");
        return MatMulCore("Bmm", this, other);
    }

    private static Tensor MatMulCore(string op, Tensor a, Tensor b)
    {
        if (GradHook.Wants(a, b))
        {
            Tensor raw;
            using (GradHook.Pause()) raw = MatMulCore(op, a, b);
            return GradHook.Recorder!.MatMul(a, b, raw);
        }
        CheckSameDevice(op, a, b);
        CheckFloating(op, a);
        CheckFloating(op, b);
        CheckSameDType(op, a, b);
        if (a.Rank == 0 || b.Rank == 0)
            throw new ArgumentException($"{op}: both operands need at least 1 dimension, got shapes {ShapeUtil.Format(a.Shape)} and {ShapeUtil.Format(b.Shape)}.");

        var am = a.Rank == 1 ? a.Unsqueeze(0) : a; // (1, K)
        var bm = b.Rank == 1 ? b.Unsqueeze(1) : b; // (K, 1)
        int m = am.Size(-2), k = am.Size(-1), kb = bm.Size(-2), n = bm.Size(-1);
        if (k != kb)
            throw new ArgumentException($"{op}: shapes {ShapeUtil.Format(a.Shape)} and {ShapeUtil.Format(b.Shape)} cannot be multiplied: {k} columns on the left vs {kb} rows on the right.");

        int[] batch;
        try { batch = ShapeUtil.Broadcast(am.Shape[..^2], bm.Shape[..^2]); }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"{op}: batch dims of shapes {ShapeUtil.Format(a.Shape)} and {ShapeUtil.Format(b.Shape)} do not broadcast. {e.Message}", e);
        }

        var result = k == 0 ? a.NewZeros([.. batch, m, n], a.DType) : a.NewEmpty([.. batch, m, n], a.DType);
        if (result.NumElements > 0 && k > 0) // k == 0: an empty sum, the zero-filled result is the answer
            MatMulBatched(am.Expand([.. batch, m, k]), bm.Expand([.. batch, k, n]), result);

        // Remove the dims that 1-D operands were promoted with.
        if (a.Rank == 1 && b.Rank == 1) return result.View();
        if (a.Rank == 1) return result.Squeeze(-2);
        if (b.Rank == 1) return result.Squeeze(-1);
        return result;
    }

    /// <summary>Runs dst = a @ b over equal batch dims: one backend call when the batch dims of both
    /// operands flatten into one strided dim (always, unless broadcasting left them irregular), else one
    /// call per index of the leading batch dim.</summary>
    private static void MatMulBatched(Tensor a, Tensor b, Tensor dst)
    {
        if (a.Rank == 2)
        {
            a.Backend.MatMul(a.Unsqueeze(0), b.Unsqueeze(0), dst.Unsqueeze(0));
            return;
        }
        var a3 = FlattenBatch(a);
        var b3 = FlattenBatch(b);
        if (a3 is not null && b3 is not null)
        {
            a.Backend.MatMul(a3, b3, FlattenBatch(dst)!);
            return;
        }
        for (int i = 0; i < a.Size(0); i++)
            MatMulBatched(a.Select(0, i), b.Select(0, i), dst.Select(0, i));
    }

    /// <summary>A (B, rows, cols) view of a tensor with any number of batch dims, or null when the batch
    /// dims cannot be merged without a copy.</summary>
    private static Tensor? FlattenBatch(Tensor t)
    {
        int count = 1;
        for (int d = 0; d < t.Rank - 2; d++) count *= t.Size(d);
        int[] shape = [count, t.Size(-2), t.Size(-1)];
        var strides = ShapeUtil.ViewStrides(t.Shape, t.Strides, shape);
        return strides is null ? null : new Tensor(t.Storage, t.Offset, shape, strides);
    }
}
