using FsCheck.Xunit;
using Sparkle.Tensors;
using Sparkle.Tensors.Cpu;
using Sparkle.Tests.Support;
using Xunit;

namespace Sparkle.Tests;

/// <summary>Indexing ops against naive scalar references, over random shapes, dims, dtypes and layouts.</summary>
public class IndexingTests
{
    internal static readonly DType[] ValueTypes = [DType.Float32, DType.Float64, DType.Int32, DType.Int64, DType.Bool];

    internal static T Pick<T>(Random rng, IReadOnlyList<T> items) => items[rng.Next(items.Count)];

    /// <summary>An index tensor of the given layout with values in [0, bound).</summary>
    internal static Tensor RandomIndex(Random rng, int[] shape, int bound, DType dtype, Layout layout)
    {
        var t = TensorGen.Random(rng, shape, dtype, layout);
        foreach (var idx in TensorGen.Indices(shape)) TensorGen.SetDouble(t, rng.Next(bound), idx);
        return t;
    }

    internal static int Flat(int[] idx, int[] shape)
    {
        int f = 0;
        for (int i = 0; i < shape.Length; i++) f = f * shape[i] + idx[i];
        return f;
    }

    /// <summary>a + b rounded to dtype, as the kernel adds (bool add is or).</summary>
    private static double AddIn(DType dtype, double a, double b) => dtype switch
    {
        DType.Float32 => (float)(a + b),
        DType.Bool => (a != 0 || b != 0) ? 1 : 0,
        _ => a + b,
    };

    [Property(MaxTest = 40)]
    public void IndexSelectMatchesReference(long seed)
    {
        var rng = new SeededRandom(seed);
        var shape = TensorGen.RandomShape(rng, 1, 4);
        var dtype = Pick(rng, ValueTypes);
        var x = TensorGen.Random(rng, shape, dtype, Pick(rng, TensorGen.AllLayouts));
        int dim = rng.Next(shape.Length);
        var index = RandomIndex(rng, [rng.Next(0, 7)], shape[dim], Pick(rng, [DType.Int32, DType.Int64]), Pick(rng, TensorGen.AllLayouts));
        var r = x.IndexSelect(rng.Next(2) == 0 ? dim : dim - shape.Length, index);

        var outShape = (int[])shape.Clone();
        outShape[dim] = index.NumElements;
        var expected = TensorGen.Indices(outShape).Select(o =>
        {
            var s = (int[])o.Clone();
            s[dim] = (int)index.GetDouble(o[dim]);
            return x.GetDouble(s);
        }).ToArray();
        Check.Shape(r, outShape);
        Assert.Equal(dtype, r.DType);
        Check.Close(expected, r, 0, what: "IndexSelect");
    }

    [Property(MaxTest = 40)]
    public void GatherMatchesReference(long seed)
    {
        var rng = new SeededRandom(seed);
        var shape = TensorGen.RandomShape(rng, 1, 4);
        var dtype = Pick(rng, ValueTypes);
        var x = TensorGen.Random(rng, shape, dtype, Pick(rng, TensorGen.AllLayouts));
        int dim = rng.Next(shape.Length);
        var indexShape = shape.Select((n, d) => d == dim ? rng.Next(1, 7) : rng.Next(1, n + 1)).ToArray();
        var index = RandomIndex(rng, indexShape, shape[dim], Pick(rng, [DType.Int32, DType.Int64]), Pick(rng, TensorGen.AllLayouts));
        var r = x.Gather(dim, index);

        var expected = TensorGen.Indices(indexShape).Select(o =>
        {
            var s = (int[])o.Clone();
            s[dim] = (int)index.GetDouble(o);
            return x.GetDouble(s);
        }).ToArray();
        Check.Shape(r, indexShape);
        Check.Close(expected, r, 0, what: "Gather");
    }

    [Property(MaxTest = 40)]
    public void ScatterAddMatchesReference(long seed)
    {
        var rng = new SeededRandom(seed);
        var shape = TensorGen.RandomShape(rng, 1, 4);
        var dtype = Pick(rng, ValueTypes);
        var self = TensorGen.Random(rng, shape, dtype, Pick(rng, TensorGen.AllLayouts));
        int dim = rng.Next(shape.Length);
        var indexShape = shape.Select((n, d) => d == dim ? rng.Next(1, 7) : rng.Next(1, n + 1)).ToArray();
        var srcShape = indexShape.Select(n => n + rng.Next(0, 2)).ToArray();
        var index = RandomIndex(rng, indexShape, shape[dim], Pick(rng, [DType.Int32, DType.Int64]), Pick(rng, TensorGen.AllLayouts));
        var src = TensorGen.Random(rng, srcShape, dtype, Pick(rng, TensorGen.AllLayouts));

        var expected = TensorGen.Values(self);
        foreach (var p in TensorGen.Indices(indexShape))
        {
            var t = (int[])p.Clone();
            t[dim] = (int)index.GetDouble(p);
            int f = Flat(t, shape);
            expected[f] = AddIn(dtype, expected[f], src.GetDouble(p));
        }
        var before = TensorGen.Values(self);
        var r = self.ScatterAdd(dim, index, src);
        Check.Close(expected, r, 0, what: "ScatterAdd");
        Check.Close(before, self, 0, what: "ScatterAdd left its input alone");

        var inPlace = self.Clone();
        Assert.Same(inPlace, inPlace.ScatterAdd_(dim - shape.Length, index, src));
        Check.Close(expected, inPlace, 0, what: "ScatterAdd_");
    }

    [Fact]
    public void ZeroDimensionalInputsWork()
    {
        var x = Tensor.Scalar(7.5, DType.Float64);
        var i = Tensor.FromArray(new long[] { 0 });
        Check.Shape(x.IndexSelect(0, i));
        Assert.Equal(7.5, x.IndexSelect(0, i).Item());
        Assert.Equal(7.5, x.Gather(0, Tensor.Scalar(0, DType.Int64)).Item());
        var s = Tensor.Scalar(1, DType.Float64).ScatterAdd_(0, Tensor.Scalar(0, DType.Int64), Tensor.Scalar(2, DType.Float64));
        Assert.Equal(3.0, s.Item());
    }

    [Fact]
    public void IndexSelectOfRowsUsesWholeRowsAndMatchesReference()
    {
        // Large enough to run on the pool and to take the block-copy path (constant index per row).
        var rng = new Random(3);
        var x = Tensor.Arange(0, 3000 * 257, 1, DType.Float32).View(3000, 257);
        var idx = Enumerable.Range(0, 2500).Select(_ => (long)rng.Next(3000)).ToArray();
        var r = x.IndexSelect(0, Tensor.FromArray(idx)).ToArray<float>();
        for (int i = 0; i < idx.Length; i += 97)
            for (int j = 0; j < 257; j += 13)
                Assert.Equal((float)(idx[i] * 257 + j), r[i * 257 + j]);
        // Same rows through a transposed view (strided rows, no block copy).
        var t = x.T.Contiguous().T;
        Assert.Equal(r, t.IndexSelect(0, Tensor.FromArray(idx)).ToArray<float>());
    }

    [Fact]
    public void OutOfRangeIndexNamesIndexDimAndShape()
    {
        var x = Tensor.Zeros([2, 5]);
        var e = Assert.Throws<IndexOutOfRangeException>(() => x.IndexSelect(1, Tensor.FromArray(new long[] { 0, 5 })));
        Assert.Contains("index 5", e.Message);
        Assert.Contains("dim 1", e.Message);
        Assert.Contains("(2, 5)", e.Message);
        e = Assert.Throws<IndexOutOfRangeException>(() => x.Gather(0, Tensor.FromArray(new int[] { -1, 0 }, [1, 2])));
        Assert.Contains("index -1", e.Message);
        Assert.Contains("dim 0", e.Message);
    }

    [Fact]
    public void FailingScatterAddLeavesTargetUntouched()
    {
        var x = Tensor.Zeros([3]);
        Assert.Throws<IndexOutOfRangeException>(() => x.ScatterAdd_(0, Tensor.FromArray(new long[] { 0, 1, 3 }), Tensor.Ones([3])));
        Assert.Equal(new float[3], x.ToArray<float>());
    }

    [Fact]
    public void ShapeAndTypeErrorsNameTheShapes()
    {
        var x = Tensor.Zeros([2, 3]);
        var e = Assert.Throws<ArgumentException>(() => x.IndexSelect(0, Tensor.Zeros([2])));
        Assert.Contains("float32", e.Message);
        Assert.Throws<ArgumentException>(() => x.IndexSelect(0, Tensor.Zeros([1, 1], DType.Int64)));
        e = Assert.Throws<ArgumentException>(() => x.Gather(0, Tensor.Zeros([2], DType.Int64)));
        Assert.Contains("(2, 3)", e.Message);
        e = Assert.Throws<ArgumentException>(() => x.Gather(0, Tensor.Zeros([1, 4], DType.Int64)));
        Assert.Contains("(1, 4)", e.Message);
        Assert.Contains("dim 1", e.Message);
        Assert.Throws<InvalidOperationException>(() => x.ScatterAdd_(0, Tensor.Zeros([1, 1], DType.Int64), Tensor.Zeros([1, 1], DType.Float64)));
        Assert.Throws<ArgumentException>(() => x.ScatterAdd_(0, Tensor.Zeros([1, 2], DType.Int64), Tensor.Zeros([1, 1])));
        var e2 = Assert.Throws<InvalidOperationException>(() => x.T.ScatterAdd_(0, Tensor.Zeros([1, 1], DType.Int64), Tensor.Zeros([1, 1])));
        Assert.Contains("contiguous", e2.Message);
    }

    [Property(MaxTest = 30)]
    public void RepeatInterleaveMatchesReference(long seed)
    {
        var rng = new SeededRandom(seed);
        var shape = TensorGen.RandomShape(rng, 0, 3, 4);
        var x = TensorGen.Random(rng, shape, Pick(rng, ValueTypes), Pick(rng, TensorGen.AllLayouts));
        int repeats = rng.Next(0, 4);
        int? dim = shape.Length == 0 || rng.Next(3) == 0 ? null : rng.Next(shape.Length);
        var r = x.RepeatInterleave(repeats, dim);
        if (dim is null)
        {
            var flat = TensorGen.Values(x);
            Check.Shape(r, flat.Length * repeats);
            Check.Close(flat.SelectMany(v => Enumerable.Repeat(v, repeats)).ToArray(), r, 0);
            return;
        }
        int d = dim.Value;
        var counts = Enumerable.Range(0, shape[d]).Select(_ => (long)rng.Next(0, 4)).ToArray();
        var byTensor = x.RepeatInterleave(Tensor.FromArray(counts), d);
        foreach (var (result, count) in new[] { (r, (Func<int, long>)(_ => repeats)), (byTensor, i => counts[i]) })
        {
            var source = Enumerable.Range(0, shape[d]).SelectMany(i => Enumerable.Repeat(i, (int)count(i))).ToArray();
            var outShape = (int[])shape.Clone();
            outShape[d] = source.Length;
            var expected = TensorGen.Indices(outShape).Select(o => { var s = (int[])o.Clone(); s[d] = source[o[d]]; return x.GetDouble(s); }).ToArray();
            Check.Shape(result, outShape);
            Check.Close(expected, result, 0);
        }
    }

    [Fact]
    public void RepeatInterleaveExamplesFromTorch()
    {
        var x = Tensor.FromArray(new long[] { 1, 2, 3, 4 }, [2, 2]);
        Assert.Equal(new long[] { 1, 1, 2, 2, 3, 3, 4, 4 }, x.RepeatInterleave(2).ToArray<long>());
        Assert.Equal(new long[] { 1, 2, 3, 4, 3, 4 }, x.RepeatInterleave(Tensor.FromArray(new long[] { 1, 2 }), 0).ToArray<long>());
        Assert.Equal(new long[] { 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4 }, x.RepeatInterleave(3, 1).ToArray<long>());
        Assert.Throws<ArgumentException>(() => x.RepeatInterleave(Tensor.FromArray(new long[] { 1, 2, 3 }), 0));
        Assert.Throws<ArgumentException>(() => x.RepeatInterleave(Tensor.FromArray(new long[] { 1, -1 }), 0));
    }

    [Fact]
    public void OneHotMatchesTorch()
    {
        var x = Tensor.FromArray(new long[] { 0, 2, 1, 2 }, [2, 2]);
        var r = x.OneHot();
        Check.Shape(r, 2, 2, 3);
        Assert.Equal(DType.Int64, r.DType);
        Assert.Equal(new long[] { 1, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 1 }, r.ToArray<long>());
        Check.Shape(x.OneHot(5), 2, 2, 5);
        Assert.Equal(1L, x.OneHot(5).Get<long>(1, 1, 2));
        Check.Shape(Tensor.Zeros([0], DType.Int64).OneHot(4), 0, 4);
        Check.Shape(Tensor.Scalar(3, DType.Int64).OneHot(), 4);
    }

    [Fact]
    public void OneHotRejectsOutOfRangeClasses()
    {
        var e = Assert.Throws<ArgumentException>(() => Tensor.FromArray(new long[] { 0, 3 }).OneHot(3));
        Assert.Contains("3", e.Message);
        Assert.Throws<ArgumentException>(() => Tensor.FromArray(new long[] { -1, 0 }).OneHot());
        Assert.Throws<ArgumentException>(() => Tensor.Zeros([0], DType.Int64).OneHot());
        Assert.Throws<ArgumentException>(() => Tensor.Zeros([2]).OneHot());
    }

    [Fact]
    public void MaskedSelectBroadcastsTheMask()
    {
        var x = Tensor.FromArray(new double[] { 1, 2, 3, 4, 5, 6 }, [2, 3]);
        var mask = Tensor.FromArray(new[] { true, false, true });
        Assert.Equal(new double[] { 1, 3, 4, 6 }, x.MaskedSelect(mask).ToArray<double>());
        Assert.Throws<ArgumentException>(() => x.MaskedSelect(Tensor.Ones([3], DType.Int64)));
    }
}

/// <summary>Thread-count checks change the process-wide pool size, so they run alone.</summary>
[CollectionDefinition(nameof(ThreadCountCollection), DisableParallelization = true)]
public class ThreadCountCollection { }

[Collection(nameof(ThreadCountCollection))]
public class IndexingThreadCountTests
{
    internal static T[] WithThreads<T>(int threads, Func<T[]> body)
    {
        int saved = IntraOpPool.NumThreads;
        try { IntraOpPool.NumThreads = threads; return body(); }
        finally { IntraOpPool.NumThreads = saved; }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public void ScatterAddIsTheSameForAnyThreadCount(int dim)
    {
        var rng = new Random(11);
        int[] indexShape = dim == 1 ? [256, 4096] : [4096, 256];
        int[] selfShape = dim == 1 ? [256, 37] : [37, 256];
        var index = Tensor.FromArray(Enumerable.Range(0, 1 << 20).Select(_ => (long)rng.Next(37)).ToArray(), indexShape);
        var src = Tensor.FromArray(Enumerable.Range(0, 1 << 20).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray(), indexShape);
        float[] Run() => Tensor.Zeros(selfShape).ScatterAdd_(dim, index, src).ToArray<float>();
        var one = WithThreads(1, Run);
        Assert.Equal(one, WithThreads(2, Run));
        Assert.Equal(one, WithThreads(4, Run));
    }

    [Fact]
    public void GatherIsTheSameForAnyThreadCount()
    {
        var rng = new Random(12);
        var x = Tensor.FromArray(Enumerable.Range(0, 1 << 20).Select(i => (double)i).ToArray(), [1024, 1024]);
        var index = Tensor.FromArray(Enumerable.Range(0, 1 << 20).Select(_ => rng.Next(1024)).ToArray(), [1024, 1024]);
        double[] Run() => x.Gather(1, index).ToArray<double>();
        var one = WithThreads(1, Run);
        Assert.Equal(one, WithThreads(2, Run));
        var idx = index.ToArray<int>();
        for (int p = 0; p < one.Length; p += 4099) Assert.Equal((p / 1024) * 1024 + idx[p], one[p]);
    }
}

public class IndexingEmptyTests
{
    [Fact]
    public void EmptyTensorsGiveEmptyResults()
    {
        var x = Tensor.Zeros([3, 0]);
        Check.Shape(x.RepeatInterleave(2, 0), 6, 0);
        Check.Shape(x.MaskedSelect(Tensor.Zeros([1], DType.Bool)), 0);
        Check.Shape(x.IndexSelect(0, Tensor.FromArray(new long[] { 2, 1 })), 2, 0);
        Check.Shape(Tensor.Zeros([2, 3]).IndexSelect(1, Tensor.Zeros([0], DType.Int64)), 2, 0);
        Check.Shape(Tensor.Cat([x, x], 1), 3, 0);
        Check.Shape(x.Pad([1, 1]), 3, 2);
    }
}
