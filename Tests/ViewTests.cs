using FsCheck.Xunit;
using Sparkle.Tensors;
using Sparkle.Tests.Support;
using Xunit;

namespace Sparkle.Tests;

/// <summary>View ops against index arithmetic done independently in the test, over random shapes and layouts.</summary>
public class ViewTests
{
    private static readonly DType[] AllDTypes = Enum.GetValues<DType>();

    private static Tensor RandomTensor(Random rng, out int[] shape, int minRank = 0)
    {
        shape = TensorGen.RandomShape(rng, minRank);
        var layout = TensorGen.AllLayouts[rng.Next(TensorGen.AllLayouts.Length)];
        return TensorGen.Random(rng, shape, AllDTypes[rng.Next(AllDTypes.Length)], layout);
    }

    private static int[] RandomFactorisation(Random rng, int n)
    {
        var dims = new List<int>();
        int rest = n;
        for (int f = 2; f <= rest;)
        {
            if (rest % f == 0 && rng.Next(2) == 0) { dims.Add(f); rest /= f; } else f++;
            if (f > rest) break;
        }
        if (rest > 1) dims.Add(rest);
        if (rng.Next(3) == 0) dims.Insert(rng.Next(dims.Count + 1), 1);
        return dims.OrderBy(_ => rng.Next()).ToArray();
    }

    [Property(MaxTest = 60)]
    public void ReshapeKeepsRowMajorOrder(long seed)
    {
        var rng = new SeededRandom(seed);
        var x = RandomTensor(rng, out _);
        var target = RandomFactorisation(rng, x.NumElements);
        if (target.Length > 0 && rng.Next(2) == 0) target[rng.Next(target.Length)] = -1;
        var y = x.Reshape(target);
        Assert.Equal(x.NumElements, y.NumElements);
        Assert.Equal(TensorGen.Values(x), TensorGen.Values(y));
        if (x.IsContiguous) Assert.Same(x.Storage, y.Storage); // a view, not a copy
        Assert.Equal(TensorGen.Values(x), TensorGen.Values(x.Flatten()));
    }

    [Property(MaxTest = 60)]
    public void ViewSucceedsOnContiguousAndSharesStorage(long seed)
    {
        var rng = new SeededRandom(seed);
        var shape = TensorGen.RandomShape(rng);
        var x = TensorGen.Random(rng, shape, DType.Float64);
        var y = x.View(RandomFactorisation(rng, x.NumElements));
        Assert.Same(x.Storage, y.Storage);
        y.Set(123.0, new int[y.Rank]);
        Assert.Equal(123.0, x.GetDouble(new int[x.Rank]));
    }

    [Fact]
    public void ViewOfTransposedThrowsAndReshapeCopies()
    {
        var x = Tensor.Arange(6, DType.Float32).View(2, 3).T;
        var e = Assert.Throws<InvalidOperationException>(() => x.View(6));
        Assert.Contains("(3, 2)", e.Message);
        Assert.Equal(new double[] { 0, 3, 1, 4, 2, 5 }, x.Reshape(6).ToDoubleArray());
        Assert.Equal(new double[] { 0, 3, 1, 4, 2, 5 }, x.Flatten().ToDoubleArray());
    }

    [Property(MaxTest = 60)]
    public void PermuteAndTransposeMoveIndices(long seed)
    {
        var rng = new SeededRandom(seed);
        var x = RandomTensor(rng, out var shape, minRank: 1);
        int r = shape.Length;
        var perm = Enumerable.Range(0, r).OrderBy(_ => rng.Next()).ToArray();
        var y = x.Permute(perm);
        foreach (var idx in TensorGen.Indices(y.ShapeArray()))
        {
            var src = new int[r];
            for (int i = 0; i < r; i++) src[perm[i]] = idx[i];
            Assert.Equal(x.GetDouble(src), y.GetDouble(idx));
        }
        int a = rng.Next(r), b = rng.Next(r);
        var t = x.Transpose(a, b - r); // negative dim on purpose
        foreach (var idx in TensorGen.Indices(t.ShapeArray()))
        {
            var src = (int[])idx.Clone();
            (src[a], src[b]) = (src[b], src[a]);
            Assert.Equal(x.GetDouble(src), t.GetDouble(idx));
        }
    }

    [Property(MaxTest = 60)]
    public void SliceNarrowSelectPickElements(long seed)
    {
        var rng = new SeededRandom(seed);
        var x = RandomTensor(rng, out var shape, minRank: 1);
        int d = rng.Next(shape.Length), n = shape[d];
        int start = rng.Next(-n, n), end = rng.Next(-n, n + 2), step = rng.Next(1, 4);
        var s = x.Slice(d, start, end, step);
        int s0 = Math.Clamp(start < 0 ? start + n : start, 0, n), e0 = Math.Clamp(end < 0 ? end + n : end, s0, n);
        var picked = Enumerable.Range(0, n).Where(i => i >= s0 && i < e0 && (i - s0) % step == 0).ToArray();
        Assert.Equal(picked.Length, s.Size(d));
        foreach (var idx in TensorGen.Indices(s.ShapeArray()))
        {
            var src = (int[])idx.Clone(); src[d] = picked[idx[d]];
            Assert.Equal(x.GetDouble(src), s.GetDouble(idx));
        }

        int ns = rng.Next(n), len = rng.Next(n - ns + 1);
        var nw = x.Narrow(d, ns, len);
        Assert.Equal(len, nw.Size(d));
        foreach (var idx in TensorGen.Indices(nw.ShapeArray()))
        {
            var src = (int[])idx.Clone(); src[d] += ns;
            Assert.Equal(x.GetDouble(src), nw.GetDouble(idx));
        }

        int k = rng.Next(n);
        var sel = x.Select(d, k);
        Assert.Equal(shape.Length - 1, sel.Rank);
        foreach (var idx in TensorGen.Indices(sel.ShapeArray()))
        {
            var src = idx.Take(d).Append(k).Concat(idx.Skip(d)).ToArray();
            Assert.Equal(x.GetDouble(src), sel.GetDouble(idx));
        }
    }

    [Property(MaxTest = 60)]
    public void ExpandRepeatsAlongUnitDims(long seed)
    {
        var rng = new SeededRandom(seed);
        var shape = TensorGen.RandomShape(rng);
        var small = TensorGen.BroadcastPartner(rng, shape);
        var x = TensorGen.Random(rng, small, DType.Int64, TensorGen.AllLayouts[rng.Next(4)]);
        var y = x.Expand(shape);
        Check.Shape(y, shape);
        int lead = shape.Length - small.Length;
        foreach (var idx in TensorGen.Indices(shape))
        {
            var src = idx.Skip(lead).Select((v, i) => small[i] == 1 ? 0 : v).ToArray();
            Assert.Equal(x.GetDouble(src), y.GetDouble(idx));
        }
        Assert.Equal(TensorGen.Values(y), TensorGen.Values(y.Contiguous()));
    }

    [Fact]
    public void ExpandErrorsNameShapes()
    {
        var e = Assert.Throws<ArgumentException>(() => Tensor.Zeros([2, 3]).Expand(4, 3));
        Assert.Contains("(2, 3)", e.Message);
        Assert.Contains("(4, 3)", e.Message);
    }

    [Property(MaxTest = 60)]
    public void SqueezeUnsqueezeRoundTrip(long seed)
    {
        var rng = new SeededRandom(seed);
        var x = RandomTensor(rng, out var shape);
        int d = rng.Next(-shape.Length - 1, shape.Length + 1);
        var u = x.Unsqueeze(d);
        Assert.Equal(shape.Length + 1, u.Rank);
        Assert.Equal(1, u.Size(d));
        Assert.Equal(TensorGen.Values(x), TensorGen.Values(u));
        Assert.Equal(shape, u.Squeeze(d).ShapeArray());
        var all = x.Squeeze();
        Assert.Equal(shape.Where(v => v != 1).ToArray(), all.ShapeArray());
        Assert.Equal(TensorGen.Values(x), TensorGen.Values(all));
    }

    [Fact]
    public void EmptyTensorsAreContiguousWhateverTheirStrides()
    {
        Assert.True(Tensor.Zeros([2, 0, 3]).IsContiguous);
        Assert.True(Tensor.Zeros([0, 4]).T.IsContiguous);
    }

    [Property(MaxTest = 60)]
    public void ContiguousAndCloneCopyValues(long seed)
    {
        var rng = new SeededRandom(seed);
        var x = RandomTensor(rng, out _);
        var c = x.Contiguous();
        Assert.True(c.IsContiguous);
        Assert.Equal(TensorGen.Values(x), TensorGen.Values(c));
        if (x.IsContiguous) Assert.Same(x, c);
        var k = x.Clone();
        Assert.NotSame(x.Storage, k.Storage);
        Assert.Equal(TensorGen.Values(x), TensorGen.Values(k));
        Assert.Equal(TensorGen.Values(x), x.ToDoubleArray());
    }

    [Property(MaxTest = 60)]
    public void ToDTypeConvertsLikePyTorch(long seed)
    {
        var rng = new SeededRandom(seed);
        var x = RandomTensor(rng, out _);
        var target = AllDTypes[rng.Next(AllDTypes.Length)];
        var y = x.To(target);
        Assert.Equal(target, y.DType);
        var expected = TensorGen.Values(x).Select(v => target switch
        {
            DType.Bool => v != 0 ? 1.0 : 0.0,
            DType.Int32 or DType.Int64 => Math.Truncate(v),
            DType.Float32 => (float)v,
            _ => v,
        }).ToArray();
        Assert.Equal(expected, TensorGen.Values(y));
    }

    [Fact]
    public void FactoriesFillShapes()
    {
        Assert.All(Tensor.Ones([2, 3], DType.Int32).ToArray<int>(), v => Assert.Equal(1, v));
        Assert.All(Tensor.Full([4], 2.5, DType.Float64).ToArray<double>(), v => Assert.Equal(2.5, v));
        Assert.Equal(new long[] { 2, 5, 8 }, Tensor.Arange(2, 10, 3).ToArray<long>());
        Assert.Equal(new float[] { 0, 0.5f, 1, 1.5f }, Tensor.Arange(0, 2, 0.5, DType.Float32).ToArray<float>());
        Assert.Equal(7.0, Tensor.Scalar(7, DType.Int64).Item());
        Assert.Equal(0, Tensor.Scalar(7).Rank);
        var e = Assert.Throws<ArgumentException>(() => Tensor.FromArray(new float[5], [2, 3]));
        Assert.Contains("(2, 3)", e.Message);
    }

    [Fact]
    public void FillWritesThroughStridedViews()
    {
        var x = Tensor.Zeros([4, 6], DType.Float64);
        CpuFill(x.Slice(1, 1, 6, 2), 3);
        Assert.Equal(new double[] { 0, 3, 0, 3, 0, 3 }, x.Select(0, 2).ToDoubleArray());
        static void CpuFill(Tensor t, double v) => t.Backend.Fill(t, v);
    }

    [Fact]
    public void LargeCopiesUseThePoolAndAgreeWithOneThread()
    {
        var rng = new Random(5);
        var x = TensorGen.Random(rng, [300, 257], DType.Float32).T; // non-contiguous, > 64K elements
        int saved = Sparkle.Tensors.Cpu.IntraOpPool.NumThreads;
        try
        {
            Sparkle.Tensors.Cpu.IntraOpPool.NumThreads = 1;
            var one = x.Contiguous().ToArray<float>();
            Sparkle.Tensors.Cpu.IntraOpPool.NumThreads = 2;
            var two = x.Contiguous().ToArray<float>();
            Assert.Equal(one, two);
            Assert.Equal(TensorGen.Values(x).Select(v => (float)v).ToArray(), two);
        }
        finally { Sparkle.Tensors.Cpu.IntraOpPool.NumThreads = saved; }
    }
}

public class EmptyTensorTests
{
    [Fact]
    public void EmptyTensorsCopyFillAndReshape()
    {
        var x = Tensor.Full([3, 0], 1.0);
        Assert.Equal(0, x.NumElements);
        Assert.Empty(x.Clone().ToArray<float>());
        Assert.Empty(Tensor.Zeros([0, 4]).T.Contiguous().ToArray<float>());
        Check.Shape(x.Reshape(0, 5), 0, 5);
        Check.Shape(Tensor.Scalar(3).Reshape(1), 1);
        Check.Shape(Tensor.Scalar(3).Flatten(), 1);
    }
}
