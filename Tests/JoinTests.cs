using FsCheck.Xunit;
using Sparkle.Tensors;
using Sparkle.Tests.Support;
using Xunit;
using static Sparkle.Tests.IndexingTests;

namespace Sparkle.Tests;

/// <summary>Cat/Stack/Split/Chunk/Pad against naive references, over random shapes, dtypes and layouts.</summary>
public class JoinTests
{
    [Property(MaxTest = 40)]
    public void CatMatchesReference(long seed)
    {
        var rng = new SeededRandom(seed);
        var shape = TensorGen.RandomShape(rng, 1, 4, 4);
        int dim = rng.Next(shape.Length);
        bool mixed = rng.Next(3) == 0;
        var dtype = Pick(rng, ValueTypes);
        var parts = Enumerable.Range(0, rng.Next(1, 5)).Select(_ =>
        {
            var s = (int[])shape.Clone();
            s[dim] = rng.Next(0, 4);
            // TensorGen's SteppedSlice cannot make size-0 dims, so empty parts are contiguous.
            var layout = s[dim] == 0 ? Layout.Contiguous : Pick(rng, TensorGen.AllLayouts);
            return TensorGen.Random(rng, s, mixed ? Pick(rng, ValueTypes) : dtype, layout);
        }).ToList();
        var r = Tensor.Cat(parts, rng.Next(2) == 0 ? dim : dim - shape.Length);

        var owner = new List<(Tensor part, int at)>();
        foreach (var p in parts) for (int i = 0; i < p.Shape[dim]; i++) owner.Add((p, i));
        var outShape = (int[])shape.Clone();
        outShape[dim] = owner.Count;
        var expected = TensorGen.Indices(outShape).Select(o =>
        {
            var (p, at) = owner[o[dim]];
            var s = (int[])o.Clone();
            s[dim] = at;
            return p.GetDouble(s);
        }).ToArray();
        Check.Shape(r, outShape);
        Assert.Equal(parts.Select(p => p.DType).Aggregate(DTypes.Promote), r.DType);
        Check.Close(expected, r, 0, what: "Cat");
    }

    [Property(MaxTest = 40)]
    public void SplitThenCatRoundTrips(long seed)
    {
        var rng = new SeededRandom(seed);
        var shape = TensorGen.RandomShape(rng, 1, 4, 6);
        int dim = rng.Next(shape.Length);
        var x = TensorGen.Random(rng, shape, Pick(rng, ValueTypes), Pick(rng, TensorGen.AllLayouts));
        var sizes = new List<int>();
        for (int left = shape[dim]; left > 0;) { int s = rng.Next(0, left + 1); sizes.Add(s); left -= s; }
        var pieces = x.Split([.. sizes], dim);
        Assert.All(pieces, p => Assert.Same(x.Storage, p.Storage));
        Assert.Equal(sizes, pieces.Select(p => p.Shape[dim]));
        Check.Close(TensorGen.Values(x), Tensor.Cat(pieces, dim), 0, what: "split sizes");

        int splitSize = rng.Next(1, shape[dim] + 2);
        var even = x.Split(splitSize, dim);
        Assert.Equal((shape[dim] + splitSize - 1) / splitSize, even.Length);
        Assert.All(even[..^1], p => Assert.Equal(splitSize, p.Shape[dim]));
        Check.Close(TensorGen.Values(x), Tensor.Cat(even, dim), 0, what: "split size");

        var chunks = x.Chunk(rng.Next(1, 5), dim);
        Check.Close(TensorGen.Values(x), Tensor.Cat(chunks, dim), 0, what: "chunk");
    }

    [Fact]
    public void ChunkFollowsTorch()
    {
        Assert.Equal([2, 2, 1], Tensor.Zeros([5]).Chunk(3).Select(c => c.Shape[0]));
        Assert.Equal([2, 2, 2], Tensor.Zeros([6]).Chunk(4).Select(c => c.Shape[0]));   // fewer chunks than asked
        Assert.Equal([0, 0, 0], Tensor.Zeros([0]).Chunk(3).Select(c => c.Shape[0]));
        Assert.Equal([3, 3], Tensor.Zeros([2, 6]).Chunk(2, -1).Select(c => c.Shape[1]));
        Assert.Throws<ArgumentException>(() => Tensor.Zeros([4]).Chunk(0));
    }

    [Property(MaxTest = 30)]
    public void StackMatchesReference(long seed)
    {
        var rng = new SeededRandom(seed);
        var shape = TensorGen.RandomShape(rng, 0, 3, 4);
        var dtype = Pick(rng, ValueTypes);
        var parts = Enumerable.Range(0, rng.Next(1, 4)).Select(_ => TensorGen.Random(rng, shape, dtype, Pick(rng, TensorGen.AllLayouts))).ToList();
        int dim = rng.Next(shape.Length + 1);
        var r = Tensor.Stack(parts, dim);
        var outShape = shape.ToList();
        outShape.Insert(dim, parts.Count);
        var expected = TensorGen.Indices([.. outShape]).Select(o =>
        {
            var s = o.ToList();
            s.RemoveAt(dim);
            return parts[o[dim]].GetDouble([.. s]);
        }).ToArray();
        Check.Shape(r, [.. outShape]);
        Check.Close(expected, r, 0, what: "Stack");
    }

    [Property(MaxTest = 40)]
    public void PadMatchesReference(long seed)
    {
        var rng = new SeededRandom(seed);
        var shape = TensorGen.RandomShape(rng, 1, 4, 5);
        var dtype = Pick(rng, ValueTypes);
        var x = TensorGen.Random(rng, shape, dtype, Pick(rng, TensorGen.AllLayouts));
        int pairs = rng.Next(1, shape.Length + 1);
        var pad = new int[2 * pairs];
        for (int i = 0; i < pairs; i++)
        {
            int n = shape[shape.Length - 1 - i];
            pad[2 * i] = rng.Next(-n, 4);
            pad[2 * i + 1] = rng.Next(-(n + pad[2 * i]), 4);   // keeps the padded size >= 0
        }
        double value = dtype == DType.Bool ? 1 : TensorGen.RandomValue(rng, dtype);
        var r = x.Pad(pad, value);

        var before = new int[shape.Length];
        var outShape = (int[])shape.Clone();
        for (int i = 0; i < pairs; i++)
        {
            int d = shape.Length - 1 - i;
            before[d] = pad[2 * i];
            outShape[d] += pad[2 * i] + pad[2 * i + 1];
        }
        double fill = dtype switch { DType.Float32 => (float)value, DType.Bool => value != 0 ? 1 : 0, _ => value };
        var expected = TensorGen.Indices(outShape).Select(o =>
        {
            var s = o.Select((v, d) => v - before[d]).ToArray();
            return s.Select((v, d) => v >= 0 && v < shape[d]).All(b => b) ? x.GetDouble(s) : fill;
        }).ToArray();
        Check.Shape(r, outShape);
        Check.Close(expected, r, 0, what: $"Pad ({string.Join(", ", pad)})");
    }

    [Fact]
    public void PadExamplesFromTorch()
    {
        var x = Tensor.FromArray(new double[] { 1, 2, 3, 4, 5, 6 }, [2, 3]);
        Assert.Equal(new double[] { 0, 1, 2, 3, 0, 0, 0, 4, 5, 6, 0, 0 }, x.Pad([1, 2]).ToArray<double>());
        Assert.Equal(new double[] { 2, 3, 5, 6 }, x.Pad([-1, 0]).ToArray<double>());
        Check.Shape(x.Pad([0, 0, 1, 1], 9), 4, 3);
        Assert.Equal(new double[] { 9, 9, 9, 1, 2, 3, 4, 5, 6, 9, 9, 9 }, x.Pad([0, 0, 1, 1], 9).ToArray<double>());
        Check.Shape(x.Pad([-3, 0]), 2, 0);
        Assert.Throws<ArgumentException>(() => x.Pad([1]));
        Assert.Throws<ArgumentException>(() => x.Pad([0, 0, 0, 0, 1, 1]));
        Assert.Throws<ArgumentException>(() => x.Pad([-3, -1]));
    }

    [Fact]
    public void CatErrorsNameTheShapes()
    {
        var a = Tensor.Zeros([2, 3]);
        var e = Assert.Throws<ArgumentException>(() => Tensor.Cat([a, Tensor.Zeros([2, 4])], 0));
        Assert.Contains("(2, 3)", e.Message);
        Assert.Contains("(2, 4)", e.Message);
        e = Assert.Throws<ArgumentException>(() => Tensor.Cat([a, Tensor.Zeros([2, 3, 1])], 0));
        Assert.Contains("(2, 3, 1)", e.Message);
        Assert.Throws<ArgumentException>(() => Tensor.Cat([], 0));
        Assert.Throws<ArgumentException>(() => Tensor.Cat([Tensor.Scalar(1)], 0));
        e = Assert.Throws<ArgumentException>(() => Tensor.Stack([a, Tensor.Zeros([3, 2])], 0));
        Assert.Contains("(3, 2)", e.Message);
        Assert.Throws<ArgumentException>(() => a.Split([1, 1], 1));
        Assert.Throws<ArgumentException>(() => a.Split(0, 1));
    }

    [Fact]
    public void CatSkipsLegacyEmptyTensorsAndPromotes()
    {
        var r = Tensor.Cat([Tensor.Zeros([0]), Tensor.Ones([1, 2], DType.Int32), Tensor.Full([1, 2], 0.5, DType.Float64)], 0);
        Check.Shape(r, 2, 2);
        Assert.Equal(DType.Float64, r.DType);
        Assert.Equal(new[] { 1, 1, 0.5, 0.5 }, r.ToArray<double>());
    }
}
