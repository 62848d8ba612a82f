using FsCheck.Xunit;
using Sparkle.Tensors;
using Sparkle.Tensors.Cpu;
using Sparkle.Tests.Support;
using Xunit;

namespace Sparkle.Tests;

/// <summary>Tensor.MatMul / Mm / Bmm (torch semantics) and CpuBackend.MatMul, against index-arithmetic references.</summary>
public class MatMulTests
{
    /// <summary>torch.matmul computed the slow way: promote 1-D operands, broadcast batch dims, loop.</summary>
    private static (int[] Shape, double[] Values) Reference(Tensor a, Tensor b)
    {
        var sa = a.ShapeArray(); var sb = b.ShapeArray();
        var am = sa.Length == 1 ? new[] { 1, sa[0] } : sa;
        var bm = sb.Length == 1 ? new[] { sb[0], 1 } : sb;
        int m = am[^2], k = am[^1], n = bm[^1];
        var batch = ShapeUtil.Broadcast(am[..^2], bm[..^2]);
        var values = new List<double>();
        foreach (var bi in TensorGen.Indices(batch))
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++)
                {
                    double s = 0;
                    for (int p = 0; p < k; p++)
                        s += a.GetDouble(Index(sa, bi, sa.Length == 1 ? [p] : [i, p])) * b.GetDouble(Index(sb, bi, sb.Length == 1 ? [p] : [p, j]));
                    values.Add(s);
                }
        var shape = new List<int>(batch);
        if (sa.Length > 1) shape.Add(m);
        if (sb.Length > 1) shape.Add(n);
        return ([.. shape], [.. values]);
    }

    /// <summary>Index into an operand of shape s for broadcast batch index bi and matrix index mi.</summary>
    private static int[] Index(int[] s, int[] bi, int[] mi)
    {
        int batchRank = s.Length - mi.Length;
        var idx = new int[s.Length];
        for (int d = 0; d < batchRank; d++) idx[d] = s[d] == 1 ? 0 : bi[bi.Length - batchRank + d];
        for (int d = 0; d < mi.Length; d++) idx[batchRank + d] = mi[d];
        return idx;
    }

    private static void CheckAgainstReference(Tensor a, Tensor b)
    {
        var r = a.MatMul(b);
        var (shape, values) = Reference(a, b);
        Check.Shape(r, shape);
        Assert.Equal(a.DType, r.DType);
        Check.Close(values, r, a.DType == DType.Float32 ? 1e-5 : 1e-12, what: $"{ShapeUtil.Format(a.Shape)} @ {ShapeUtil.Format(b.Shape)}");
    }

    [Fact]
    public void DotOfVectorsIsZeroDim()
    {
        var a = Tensor.FromArray(new float[] { 1, 2, 3 });
        var b = Tensor.FromArray(new float[] { 4, 5, 6 });
        var r = a.MatMul(b);
        Assert.Equal(0, r.Rank);
        Assert.Equal(32.0, r.Item());
    }

    [Fact]
    public void MatrixTimesVectorAndVectorTimesMatrix()
    {
        var m = Tensor.FromArray(new double[] { 1, 2, 3, 4, 5, 6 }, [2, 3]);
        var v3 = Tensor.FromArray(new double[] { 1, 0, -1 });
        var v2 = Tensor.FromArray(new double[] { 1, 1 });
        var mv = m.MatMul(v3);
        Check.Shape(mv, 2);
        Assert.Equal(new double[] { -2, -2 }, mv.ToArray<double>());
        var vm = v2.MatMul(m);
        Check.Shape(vm, 3);
        Assert.Equal(new double[] { 5, 7, 9 }, vm.ToArray<double>());
    }

    [Fact]
    public void TwoByTwoValues()
    {
        var a = Tensor.FromArray(new float[] { 1, 2, 3, 4 }, [2, 2]);
        var b = Tensor.FromArray(new float[] { 5, 6, 7, 8 }, [2, 2]);
        Assert.Equal(new float[] { 19, 22, 43, 50 }, a.MatMul(b).ToArray<float>());
        Assert.Equal(new float[] { 19, 22, 43, 50 }, a.Mm(b).ToArray<float>());
        Assert.Equal(new float[] { 23, 31, 34, 46 }, a.T.Mm(b.T).ToArray<float>()); // (BA)ᵀ
    }

    public static TheoryData<int[], int[]> BroadcastShapes => new()
    {
        { [3], [2, 3, 4] },          // 1-D left with a batch
        { [2, 3, 4], [4] },          // 1-D right with a batch
        { [2, 1, 3, 4], [5, 4, 6] }, // batch (2,1) x (5) -> (2,5)
        { [1, 3, 4], [2, 4, 5] },
        { [2, 3, 4], [4, 5] },       // shared right operand (folded into one GEMM)
        { [3, 4], [2, 2, 4, 5] },
        { [2, 1, 1, 4], [3, 4, 1] }, // M = N = 1 per batch element
        { [0, 3, 4], [4, 2] },       // empty batch
        { [2, 3, 0], [2, 0, 4] },    // K = 0 -> zeros
    };

    [Theory, MemberData(nameof(BroadcastShapes))]
    public void BroadcastingSemantics(int[] sa, int[] sb)
    {
        var rng = new Random(sa.Sum() * 31 + sb.Sum());
        foreach (var dtype in new[] { DType.Float32, DType.Float64 })
            CheckAgainstReference(TensorGen.Random(rng, sa, dtype), TensorGen.Random(rng, sb, dtype));
    }

    /// <summary>Random ranks 1..4, broadcast-compatible batch dims, random layouts (permuted, sliced, expanded).</summary>
    [Property(MaxTest = 40)]
    public void MatchesReferenceForRandomShapesAndLayouts(long seed)
    {
        var rng = new SeededRandom(seed);
        var dtype = rng.Next(2) == 0 ? DType.Float32 : DType.Float64;
        int m = rng.Next(1, 9), k = rng.Next(1, 9), n = rng.Next(1, 9);
        var batch = TensorGen.RandomShape(rng, 0, 2, 3);
        var batchB = TensorGen.BroadcastPartner(rng, batch);
        if (rng.Next(2) == 0) (batch, batchB) = (batchB, batch);
        int[] sa = rng.Next(5) == 0 ? [k] : [.. batch, m, k];
        int[] sb = rng.Next(5) == 0 ? [k] : [.. batchB, k, n];
        var la = TensorGen.AllLayouts[rng.Next(TensorGen.AllLayouts.Length)];
        var lb = TensorGen.AllLayouts[rng.Next(TensorGen.AllLayouts.Length)];
        CheckAgainstReference(TensorGen.Random(rng, sa, dtype, la), TensorGen.Random(rng, sb, dtype, lb));
    }

    [Fact]
    public void IrregularBroadcastBatchIsHandled()
    {
        // Batch dims (expanded, permuted) that cannot be flattened into one strided dim.
        var rng = new Random(5);
        var a = TensorGen.Random(rng, [3, 1, 4, 5], DType.Float32).Expand(3, 2, 4, 5).Permute(1, 0, 2, 3);
        var b = TensorGen.Random(rng, [2, 3, 5, 6], DType.Float32);
        CheckAgainstReference(a, b);
    }

    [Fact]
    public void BmmWithExpandedRightOperand()
    {
        var rng = new Random(9);
        var a = TensorGen.Random(rng, [4, 3, 5], DType.Float64);
        var b = TensorGen.Random(rng, [1, 5, 2], DType.Float64).Expand(4, 5, 2);
        var r = a.Bmm(b);
        var (shape, values) = Reference(a, b);
        Check.Shape(r, shape);
        Check.Close(values, r, 1e-12);
    }

    [Fact]
    public void BackendAccumulates()
    {
        var a = Tensor.FromArray(new float[] { 1, 2, 3, 4 }, [1, 2, 2]);
        var b = Tensor.FromArray(new float[] { 1, 0, 0, 1 }, [1, 2, 2]);
        var dst = Tensor.FromArray(new float[] { 10, 20, 30, 40 }, [1, 2, 2]);
        CpuBackend.Instance.MatMul(a, b, dst, accumulate: true);
        Assert.Equal(new float[] { 11, 22, 33, 44 }, dst.ToArray<float>());
    }

    /// <summary>Many small products run in parallel over the batch; a large one runs threaded inside: same bits.</summary>
    [Theory]
    [InlineData(64, 8, 9, 7)]
    [InlineData(2, 200, 210, 200)] // above the batch-parallel limit: one parallel GEMM after another
    [InlineData(16, 1, 33, 40)]
    public void BatchedResultsDoNotDependOnThreads(int batch, int m, int k, int n)
    {
        var rng = new Random(batch + m + k + n);
        var a = TensorGen.Random(rng, [batch, m, k], DType.Float32);
        var b = TensorGen.Random(rng, [batch, k, n], DType.Float32, Layout.Permuted);
        int saved = IntraOpPool.NumThreads;
        try
        {
            IntraOpPool.NumThreads = 1;
            var one = a.Bmm(b).ToArray<float>();
            IntraOpPool.NumThreads = 2;
            var two = a.Bmm(b).ToArray<float>();
            Assert.Equal(one, two);
        }
        finally { IntraOpPool.NumThreads = saved; }
    }

    /// <summary>A forced kernel applies to the products the backend runs on pool threads too: with the
    /// scalar kernel (separate multiply and add) the bits differ from the FMA kernels, so a batch run in
    /// parallel must still equal the same batch run on one thread.</summary>
    [Fact]
    public void ForcedKernelReachesPoolThreads()
    {
        var rng = new Random(11);
        var a = TensorGen.Random(rng, [32, 7, 40], DType.Float32);
        var b = TensorGen.Random(rng, [32, 40, 9], DType.Float32);
        var scalar = CpuBackend.WithOptions(new CpuKernelOptions { Isa = CpuIsa.Scalar });
        var wide = CpuBackend.WithOptions(new CpuKernelOptions { Isa = CpuIsa.Avx512 });
        int saved = IntraOpPool.NumThreads;
        try
        {
            IntraOpPool.NumThreads = 1;
            var one = scalar.Adopt(a).Bmm(b).ToArray<float>();
            IntraOpPool.NumThreads = 2;
            for (int rep = 0; rep < 5; rep++) Assert.Equal(one, scalar.Adopt(a).Bmm(b).ToArray<float>());
            var product = wide.Adopt(a).Bmm(b);
            Check.Close(Reference(a, b).Values, product, 1e-5);
            Assert.NotEqual(one, product.ToArray<float>()); // the data tells the kernels apart
        }
        finally { IntraOpPool.NumThreads = saved; }
    }

    // ---- errors name both operands ----

    private static void ThrowsNaming<TEx>(Action act, params string[] fragments) where TEx : Exception
    {
        var e = Assert.Throws<TEx>(act);
        foreach (var f in fragments) Assert.Contains(f, e.Message);
    }

    [Fact]
    public void InnerDimensionMismatchNamesBothShapes() =>
        ThrowsNaming<ArgumentException>(() => Tensor.Zeros([2, 3]).MatMul(Tensor.Zeros([4, 5])), "(2, 3)", "(4, 5)");

    [Fact]
    public void VectorLengthMismatchNamesBothShapes() =>
        ThrowsNaming<ArgumentException>(() => Tensor.Zeros([3]).MatMul(Tensor.Zeros([4])), "(3)", "(4)");

    [Fact]
    public void BatchMismatchNamesBothShapes() =>
        ThrowsNaming<ArgumentException>(() => Tensor.Zeros([2, 3, 4]).MatMul(Tensor.Zeros([3, 4, 5])), "(2, 3, 4)", "(3, 4, 5)");

    [Fact]
    public void ZeroDimOperandIsRejected() =>
        ThrowsNaming<ArgumentException>(() => Tensor.Scalar(2).MatMul(Tensor.Zeros([3])), "()", "(3)");

    [Fact]
    public void DTypeMismatchNamesBoth() =>
        ThrowsNaming<InvalidOperationException>(() => Tensor.Zeros([2, 2]).MatMul(Tensor.Zeros([2, 2], DType.Float64)), "float32", "float64");

    [Fact]
    public void IntegerDTypeIsRejected() =>
        ThrowsNaming<InvalidOperationException>(() => Tensor.Zeros([2, 2], DType.Int64).MatMul(Tensor.Zeros([2, 2], DType.Int64)), "int64");

    [Fact]
    public void MmNeedsTwoDims() =>
        ThrowsNaming<ArgumentException>(() => Tensor.Zeros([2, 3, 4]).Mm(Tensor.Zeros([4, 5])), "(2, 3, 4)", "(4, 5)");

    [Fact]
    public void BmmNeedsThreeDimsAndEqualBatches()
    {
        ThrowsNaming<ArgumentException>(() => Tensor.Zeros([3, 4]).Bmm(Tensor.Zeros([2, 4, 5])), "(3, 4)", "(2, 4, 5)");
        ThrowsNaming<ArgumentException>(() => Tensor.Zeros([1, 3, 4]).Bmm(Tensor.Zeros([2, 4, 5])), "(1, 3, 4)", "(2, 4, 5)");
    }
}
