using FsCheck.Xunit;
using Sparkle.Tensors;
using Sparkle.Tests.Support;
using Xunit;

namespace Sparkle.Tests.Autograd;

/// <summary>
/// Gradient checks of MatMul / Mm / Bmm (rule: Autograd/Rules/MatMulRules.cs) over every rank combination,
/// broadcasting batch dims, non-contiguous leaves, and operands that do not require grad.
/// </summary>
public class MatMulGradTests
{
    private static string F(Tensor t) => ShapeUtil.Format(t.Shape);

    /// <summary>An operand: a differentiable leaf in a random leaf layout, or (when constant) a plain float64
    /// tensor in a random layout.</summary>
    private static Tensor Operand(Random rng, int[] shape, bool constant = false)
        => constant ? TensorGen.Random(rng, shape, DType.Float64, GradGen.LeafLayouts[rng.Next(GradGen.LeafLayouts.Length)])
                    : GradGen.Leaf(rng, shape);

    /// <summary>Checks a·b, with one of the operands randomly made constant one time in four; when one is, its
    /// Grad must stay null after a backward.</summary>
    private static void CheckMatMul(Random rng, int[] sa, int[] sb, Func<Tensor, Tensor, Tensor>? op = null, string name = "MatMul")
    {
        op ??= (x, y) => x.MatMul(y);
        int constant = rng.Next(4); // 0: a constant, 1: b constant, else both differentiable
        var a = Operand(rng, sa, constant == 0);
        var b = Operand(rng, sb, constant == 1);
        GradGen.AssertGrads($"{name} {F(a)}{(a.RequiresGrad ? "*" : "")} strides {ShapeUtil.Format(a.Strides)} x {F(b)}{(b.RequiresGrad ? "*" : "")} strides {ShapeUtil.Format(b.Strides)}",
            t => op(t[0], t[1]), a, b);
        if (constant <= 1)
        {
            op(a, b).Sum().Backward();
            Assert.Null((constant == 0 ? a : b).Grad);
            var other = constant == 0 ? b : a;
            Assert.NotNull(other.Grad);
            Check.Shape(other.Grad!, other.ShapeArray());
        }
    }

    private static int Dim(Random rng) => rng.Next(1, 5);

    [Property(MaxTest = 30)]
    public void VectorVector(long seed)
    {
        var rng = new SeededRandom(seed);
        int k = Dim(rng);
        CheckMatMul(rng, [k], [k]);
    }

    [Property(MaxTest = 30)]
    public void VectorMatrix(long seed)
    {
        var rng = new SeededRandom(seed);
        int k = Dim(rng), n = Dim(rng);
        CheckMatMul(rng, [k], [k, n]);
    }

    [Property(MaxTest = 30)]
    public void MatrixVector(long seed)
    {
        var rng = new SeededRandom(seed);
        int m = Dim(rng), k = Dim(rng);
        CheckMatMul(rng, [m, k], [k]);
    }

    [Property(MaxTest = 40)]
    public void MatrixMatrix(long seed)
    {
        var rng = new SeededRandom(seed);
        int m = Dim(rng), k = Dim(rng), n = Dim(rng);
        CheckMatMul(rng, [m, k], [k, n]);
    }

    /// <summary>Batched operands of rank 1-4 (at least one of rank 3+), batch dims that broadcast against each
    /// other (size-1 dims, missing leading dims).</summary>
    [Property(MaxTest = 60)]
    public void BatchedWithBroadcasting(long seed)
    {
        var rng = new SeededRandom(seed);
        int m = Dim(rng), k = Dim(rng), n = Dim(rng);
        var batch = TensorGen.RandomShape(rng, 1, 2, 3);
        int[] ba = TensorGen.BroadcastPartner(rng, batch), bb = TensorGen.BroadcastPartner(rng, batch);
        // One side carries the full batch so that the result is batched.
        if (rng.Next(2) == 0) ba = batch; else bb = batch;
        int[] sa = rng.Next(5) == 0 && ba.Length == 0 ? [k] : [.. ba, m, k];
        int[] sb = rng.Next(5) == 0 && bb.Length == 0 ? [k] : [.. bb, k, n];
        if (sa.Length < 3 && sb.Length < 3) sa = [.. batch, m, k];
        CheckMatMul(rng, sa, sb);
    }

    /// <summary>A 2-D (or 1-D) right operand under a 3-D/4-D left one: the Linear-layer path, whose right-operand
    /// gradient is one GEMM over the flattened batch.</summary>
    [Property(MaxTest = 40)]
    public void BatchedLeftTimesMatrix(long seed)
    {
        var rng = new SeededRandom(seed);
        int m = Dim(rng), k = Dim(rng), n = Dim(rng);
        var batch = TensorGen.RandomShape(rng, 1, 2, 3);
        int[] sb = rng.Next(4) == 0 ? [k] : [k, n];
        CheckMatMul(rng, [.. batch, m, k], sb);
    }

    /// <summary>The Linear-layer path against the plain rule written out: dW = Σ_batch aᵀ·g.</summary>
    [Property(MaxTest = 20)]
    public void LinearPathWeightGradientIsSumOverBatch(long seed)
    {
        var rng = new SeededRandom(seed);
        int m = Dim(rng), k = Dim(rng), n = Dim(rng);
        var batch = TensorGen.RandomShape(rng, 1, 2, 3);
        var x = Operand(rng, [.. batch, m, k], constant: true);
        var w = GradGen.Leaf(rng, [k, n]);
        var g = TensorGen.Random(rng, [.. batch, m, n], DType.Float64);
        x.MatMul(w).Backward(g);
        var expected = new double[k * n];
        var xv = x.Contiguous().Reshape(-1, m, k);
        var gv = g.Reshape(-1, m, n);
        for (int bi = 0; bi < xv.Size(0); bi++)
            for (int i = 0; i < k; i++)
                for (int j = 0; j < n; j++)
                    for (int r = 0; r < m; r++)
                        expected[i * n + j] += xv.GetDouble(bi, r, i) * gv.GetDouble(bi, r, j);
        Check.Close(expected, w.Grad!, 1e-12);
    }

    /// <summary>Leaves that are transposed views (the layout of a weight used as Wᵀ) on either side.</summary>
    [Property(MaxTest = 40)]
    public void TransposedLeaves(long seed)
    {
        var rng = new SeededRandom(seed);
        int m = Dim(rng), k = Dim(rng), n = Dim(rng);
        var batch = TensorGen.RandomShape(rng, 0, 2, 3);
        Tensor TransposedLeaf(int[] batchShape, int rows, int cols)
            => TensorGen.Random(rng, [.. batchShape, cols, rows], DType.Float64).Transpose(-1, -2).RequireGrad();
        var a = rng.Next(2) == 0 ? TransposedLeaf(batch, m, k) : GradGen.Leaf(rng, [.. batch, m, k]);
        var b = rng.Next(3) == 0 ? TransposedLeaf([], k, n) : TransposedLeaf(batch, k, n);
        Assert.True(a.IsLeaf && b.IsLeaf);
        GradGen.AssertGrads($"MatMul {F(a)} strides {ShapeUtil.Format(a.Strides)} x {F(b)} strides {ShapeUtil.Format(b.Strides)}",
            t => t[0].MatMul(t[1]), a, b);
    }

    [Property(MaxTest = 30)]
    public void Mm(long seed)
    {
        var rng = new SeededRandom(seed);
        int m = Dim(rng), k = Dim(rng), n = Dim(rng);
        CheckMatMul(rng, [m, k], [k, n], (x, y) => x.Mm(y), "Mm");
    }

    [Property(MaxTest = 30)]
    public void Bmm(long seed)
    {
        var rng = new SeededRandom(seed);
        int bs = Dim(rng), m = Dim(rng), k = Dim(rng), n = Dim(rng);
        CheckMatMul(rng, [bs, m, k], [bs, k, n], (x, y) => x.Bmm(y), "Bmm");
    }

    /// <summary>A product inside a larger graph: the same leaf on both sides (xᵀx) accumulates both gradients.</summary>
    [Property(MaxTest = 20)]
    public void SameLeafOnBothSides(long seed)
    {
        var rng = new SeededRandom(seed);
        var x = GradGen.Leaf(rng, [Dim(rng), Dim(rng)]);
        GradGen.AssertGrads($"xT.x of {F(x)}", t => t[0].T.MatMul(t[0]), x);
    }
}
