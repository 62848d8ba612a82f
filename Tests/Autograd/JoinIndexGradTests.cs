using FsCheck.Xunit;
using Sparkle.Tensors;
using Sparkle.Tests.Support;
using Xunit;

namespace Sparkle.Tests.Autograd;

/// <summary>
/// Gradient checks of joining, splitting, padding and indexing (rules: Autograd/Rules/JoinRules.cs and
/// IndexingRules.cs; Stack, Split, Chunk, MaskedFill, RepeatInterleave, MaskedSelect by composition) over
/// random small shapes, leaf layouts and valid random indices.
/// </summary>
public class JoinIndexGradTests
{
    private static int[] Shape(Random rng, int minRank = 0, int maxRank = 4) => TensorGen.RandomShape(rng, minRank, maxRank, 4);

    private static string F(int[] shape) => ShapeUtil.Format(shape);
    private static string F(Tensor t) => ShapeUtil.Format(t.Shape);

    /// <summary>An index tensor of the given shape with values in [0, bound): int64 or int32, and (rank 2+)
    /// sometimes a transposed view rather than contiguous.</summary>
    private static Tensor Index(Random rng, int[] shape, int bound)
    {
        bool transposed = shape.Length >= 2 && rng.Next(3) == 0;
        var stored = (int[])shape.Clone();
        if (transposed) (stored[0], stored[^1]) = (stored[^1], stored[0]);
        var data = new long[ShapeUtil.NumElements(shape)];
        for (int i = 0; i < data.Length; i++) data[i] = rng.Next(bound);
        var index = Tensor.FromArray(data, stored);
        if (rng.Next(3) == 0) index = index.To(DType.Int32);
        return transposed ? index.Transpose(0, -1) : index;
    }

    private static Tensor Mask(Random rng, int[] shape) => TensorGen.Random(rng, shape, DType.Bool);

    // ---------------------------------------------------------------- Cat / Stack / Split / Chunk / Pad

    /// <summary>2-4 parts along a random dim, each requiring grad or not (at least one does), sometimes with a
    /// 1-D empty part (skipped by Cat, as torch's legacy rule) and sometimes a float32 part that is promoted.</summary>
    [Property(MaxTest = 60)]
    public void Cat(long seed)
    {
        var rng = new SeededRandom(seed);
        var shape = Shape(rng, 1);
        int d = rng.Next(shape.Length), count = rng.Next(2, 5);
        var parts = new List<Tensor>();
        for (int k = 0; k < count; k++)
        {
            var s = (int[])shape.Clone();
            s[d] = rng.Next(1, 4);
            bool grad = k == 0 || rng.Next(3) != 0;
            parts.Add(grad ? GradGen.Leaf(rng, s)
                : TensorGen.Random(rng, s, rng.Next(3) == 0 ? DType.Float32 : DType.Float64, GradGen.LeafLayouts[rng.Next(3)]));
        }
        if (rng.Next(2) == 0)
        {
            var empty = Tensor.Zeros([0], DType.Float64);
            if (rng.Next(2) == 0) empty.RequireGrad();
            parts.Insert(rng.Next(parts.Count + 1), empty);
        }
        parts = parts.OrderBy(_ => rng.Next()).ToList();
        int dim = rng.Next(2) == 0 ? d : d - shape.Length;
        string what = $"Cat dim {dim} of {string.Join(", ", parts.Select(p => F(p) + (p.RequiresGrad ? "*" : "") + p.DType.Name()))}";
        GradGen.AssertGrads(what, t => Tensor.Cat(t, dim), [.. parts]);

        // An empty part that requires grad gets an empty float64 gradient.
        var y = Tensor.Cat(parts, dim);
        Assert.Equal(DType.Float64, y.DType);
        y.Sum().Backward();
        foreach (var p in parts.Where(p => p.RequiresGrad))
        {
            Assert.NotNull(p.Grad);
            Check.Shape(p.Grad!, p.ShapeArray());
            Assert.Equal(DType.Float64, p.Grad!.DType);
            Assert.All(TensorGen.Values(p.Grad), v => Assert.Equal(1.0, v));
        }
    }

    [Property(MaxTest = 40)]
    public void Stack(long seed)
    {
        var rng = new SeededRandom(seed);
        var shape = Shape(rng, 0, 3);
        int count = rng.Next(1, 5);
        var parts = Enumerable.Range(0, count)
            .Select(k => k == 0 || rng.Next(3) != 0 ? GradGen.Leaf(rng, shape) : TensorGen.Random(rng, shape, DType.Float64))
            .ToArray();
        int dim = rng.Next(-shape.Length - 1, shape.Length + 1);
        GradGen.AssertGrads($"Stack dim {dim} of {count} x {F(shape)}", t => Tensor.Stack(t, dim), parts);
    }

    /// <summary>Pieces reassembled in another order, some dropped, each scaled differently: each Narrow's gradient
    /// must land in its own place, and dropped pieces get zero.</summary>
    private static Tensor Reassemble(Tensor[] pieces, int d, int[] order)
    {
        var chosen = order.Select(k => pieces[k] * (k + 1.0)).ToList();
        return Tensor.Cat(chosen, d);
    }

    private static int[] RandomOrder(Random rng, int n)
    {
        var order = Enumerable.Range(0, n).OrderBy(_ => rng.Next()).ToList();
        int drop = n > 1 ? rng.Next(0, n) : 0;
        return order.Take(n - drop).ToArray();
    }

    [Property(MaxTest = 40)]
    public void SplitBySize(long seed)
    {
        var rng = new SeededRandom(seed);
        var x = GradGen.Leaf(rng, Shape(rng, 1));
        int d = rng.Next(x.Rank), size = rng.Next(1, x.Size(d) + 2);
        int dim = rng.Next(2) == 0 ? d : d - x.Rank;
        int pieces = x.Split(size, dim).Length;
        Assert.Equal((x.Size(d) + size - 1) / size, pieces);
        var order = RandomOrder(rng, pieces);
        GradGen.AssertGrads($"Split({size}, {dim}) of {F(x)} order {string.Join(",", order)}",
            t => Reassemble(t[0].Split(size, dim), d, order), x);
    }

    [Property(MaxTest = 40)]
    public void SplitBySizes(long seed)
    {
        var rng = new SeededRandom(seed);
        var x = GradGen.Leaf(rng, Shape(rng, 1));
        int d = rng.Next(x.Rank), n = x.Size(d);
        var sizes = new List<int>();
        for (int left = n; left > 0;)
        {
            int s = rng.Next(0, left + 1);
            sizes.Add(s);
            left -= s;
        }
        if (rng.Next(3) == 0) sizes.Insert(rng.Next(sizes.Count + 1), 0);
        var arr = sizes.ToArray();
        var order = RandomOrder(rng, arr.Length);
        GradGen.AssertGrads($"Split(({string.Join(",", arr)}), {d}) of {F(x)} order {string.Join(",", order)}",
            t => Reassemble(t[0].Split(arr, d), d, order), x);
    }

    [Property(MaxTest = 40)]
    public void Chunk(long seed)
    {
        var rng = new SeededRandom(seed);
        var x = GradGen.Leaf(rng, Shape(rng, 1));
        int d = rng.Next(x.Rank), chunks = rng.Next(1, 6);
        int pieces = x.Chunk(chunks, d).Length;
        Assert.InRange(pieces, 1, chunks);
        var order = RandomOrder(rng, pieces);
        GradGen.AssertGrads($"Chunk({chunks}, {d}) of {F(x)} order {string.Join(",", order)}",
            t => Reassemble(t[0].Chunk(chunks, d), d, order), x);
    }

    /// <summary>Per-dim (before, after) in [-size, 3]: padding, cropping, and crops that cross the padding.</summary>
    [Property(MaxTest = 60)]
    public void PadAndCrop(long seed)
    {
        var rng = new SeededRandom(seed);
        var x = GradGen.Leaf(rng, Shape(rng, 1));
        int dims = rng.Next(1, x.Rank + 1);
        var pad = new int[2 * dims];
        for (int i = 0; i < dims; i++)
        {
            int n = x.Size(x.Rank - 1 - i), before, after;
            do { before = rng.Next(-n, 4); after = rng.Next(-n, 4); } while (n + before + after < 0);
            (pad[2 * i], pad[2 * i + 1]) = (before, after);
        }
        double value = rng.Next(2) == 0 ? 0 : 0.75;
        GradGen.AssertGrads($"Pad(({string.Join(",", pad)}), {value}) of {F(x)}", t => t[0].Pad(pad, value), x);
    }

    /// <summary>Only 1-D empty parts: the result is (0) and each part that requires grad gets an empty gradient.</summary>
    [Fact]
    public void CatOfOnlyEmptyParts()
    {
        var a = Tensor.Zeros([0], DType.Float64).RequireGrad();
        var b = Tensor.Zeros([0], DType.Float64);
        var y = Tensor.Cat([a, b, a], 0);
        Check.Shape(y, 0);
        Assert.True(y.RequiresGrad);
        y.Sum().Backward();
        Check.Shape(a.Grad!, 0);
        Assert.Null(b.Grad);
    }

    /// <summary>Cat, Stack and Where promote a float32 operand to float64; its gradient comes back as float32
    /// (the leaf's dtype), with the values of the float64 cotangent rounded.</summary>
    [Fact]
    public void PromotedOperandsGetGradientsInTheirOwnDType()
    {
        var a = Tensor.FromArray(new float[] { 1, 2 }).RequireGrad();
        var b = Tensor.FromArray(new double[] { 3, 4, 5 }).RequireGrad();
        var w = Tensor.FromArray(new double[] { 0.5, 1.5, 2.5, 3.5, 4.5 });
        (Tensor.Cat([a, b], 0) * w).Sum().Backward();
        Assert.Equal(DType.Float32, a.Grad!.DType);
        Assert.Equal(DType.Float64, b.Grad!.DType);
        Check.Close([0.5, 1.5], a.Grad, 0);
        Check.Close([2.5, 3.5, 4.5], b.Grad, 0);

        a.Grad = null; b.Grad = null;
        var c = Tensor.FromArray(new double[] { 7, 8 }).RequireGrad();
        (Tensor.Stack([a, c], 1) * Tensor.FromArray(new double[] { 1, 2, 3, 4 }, [2, 2])).Sum().Backward();
        Assert.Equal(DType.Float32, a.Grad!.DType);
        Check.Close([1, 3], a.Grad, 0);
        Check.Close([2, 4], c.Grad!, 0);

        a.Grad = null; b.Grad = null;
        var cond = Tensor.FromArray(new[] { true, false });
        (Tensor.Where(cond, a, c) * Tensor.FromArray(new double[] { 10, 20 })).Sum().Backward();
        Assert.Equal(DType.Float32, a.Grad!.DType);
        Check.Close([10, 0], a.Grad, 0);
        Check.Close([2, 24], c.Grad!, 0); // c was not reset: 2 + 0 and 4 + 20
    }

    /// <summary>A crop keeps exactly the cropped window's gradient and zeroes the rest.</summary>
    [Fact]
    public void CropGradientIsZeroOutsideTheWindow()
    {
        var x = Tensor.FromArray(new double[] { 1, 2, 3, 4, 5 }).RequireGrad();
        var w = Tensor.FromArray(new double[] { 10, 20, 30 });
        (x.Pad([-1, -1]) * w).Sum().Backward();
        Check.Close([0, 10, 20, 30, 0], x.Grad!, 0);
        x.Grad = null;
        (x.Pad([2, -3]) * Tensor.FromArray(new double[] { 7, 8, 9, 10 })).Sum().Backward();
        Check.Close([9, 10, 0, 0, 0], x.Grad!, 0);
    }

    // ---------------------------------------------------------------- Gather / IndexSelect / ScatterAdd

    [Property(MaxTest = 60)]
    public void Gather(long seed)
    {
        var rng = new SeededRandom(seed);
        var shape = Shape(rng, 0, 3);
        var x = GradGen.Leaf(rng, shape);
        if (shape.Length == 0)
        {
            var i0 = Tensor.FromArray(new long[] { 0 }, []);
            GradGen.AssertGrads("Gather 0-d", t => t[0].Gather(0, i0), x);
            return;
        }
        int d = rng.Next(shape.Length);
        var ishape = shape.Select((s, i) => i == d ? rng.Next(1, 6) : rng.Next(1, s + 1)).ToArray();
        var index = Index(rng, ishape, shape[d]);
        int dim = rng.Next(2) == 0 ? d : d - shape.Length;
        GradGen.AssertGrads($"Gather({dim}) of {F(shape)} index {F(ishape)}", t => t[0].Gather(dim, index), x);
    }

    [Property(MaxTest = 60)]
    public void IndexSelectWithRepeatedIndices(long seed)
    {
        var rng = new SeededRandom(seed);
        var shape = Shape(rng, 0, 3);
        var x = GradGen.Leaf(rng, shape);
        if (shape.Length == 0)
        {
            var i0 = rng.Next(2) == 0 ? Tensor.FromArray(new long[] { 0 }, []) : Tensor.FromArray(new long[] { 0 });
            GradGen.AssertGrads($"IndexSelect 0-d index {F(i0)}", t => t[0].IndexSelect(0, i0), x);
            return;
        }
        int d = rng.Next(shape.Length), n = shape[d];
        // At least one index repeats: the gradient of that slice is the sum of its copies' cotangents.
        var idx = Enumerable.Range(0, rng.Next(1, 6)).Select(_ => (long)rng.Next(n)).ToList();
        idx.Insert(rng.Next(idx.Count + 1), idx[rng.Next(idx.Count)]);
        var index = Tensor.FromArray(idx.ToArray());
        if (rng.Next(3) == 0) index = index.To(DType.Int32);
        int dim = rng.Next(2) == 0 ? d : d - shape.Length;
        GradGen.AssertGrads($"IndexSelect({dim}, [{string.Join(",", idx)}]) of {F(shape)}", t => t[0].IndexSelect(dim, index), x);

        // A 0-d index keeps the dim with size 1 (torch.index_select).
        var one = Tensor.FromArray(new long[] { idx[0] }, []);
        Check.Shape(x.IndexSelect(dim, one), shape.Select((s, i) => i == d ? 1 : s).ToArray());
        GradGen.AssertGrads($"IndexSelect({dim}, 0-d {idx[0]}) of {F(shape)}", t => t[0].IndexSelect(dim, one), x);

        // Direct: summing the selection counts each slice as often as it is listed.
        x.IndexSelect(dim, index).Sum().Backward();
        var expected = new double[x.NumElements];
        int k = 0;
        foreach (var pos in TensorGen.Indices(shape)) expected[k++] = idx.Count(i => i == pos[d]);
        Check.Close(expected, x.Grad!, 0);
    }

    /// <summary>self and src both differentiable (or one of them); src larger than index in some dims (only its
    /// index-shaped corner is used, the rest gets zero gradient).</summary>
    [Property(MaxTest = 60)]
    public void ScatterAdd(long seed)
    {
        var rng = new SeededRandom(seed);
        var shape = Shape(rng, 0, 3);
        int which = rng.Next(4); // 0, 1: both; 2: self only; 3: src only
        if (shape.Length == 0)
        {
            var s0 = which == 3 ? TensorGen.Random(rng, [], DType.Float64) : GradGen.Leaf(rng, []);
            var src0 = which == 2 ? TensorGen.Random(rng, [], DType.Float64) : GradGen.Leaf(rng, []);
            var i0 = Tensor.FromArray(new long[] { 0 }, []);
            GradGen.AssertGrads("ScatterAdd 0-d", t => t[0].ScatterAdd(0, i0, t[1]), s0, src0);
            return;
        }
        int d = rng.Next(shape.Length);
        var ishape = shape.Select((s, i) => i == d ? rng.Next(1, 6) : rng.Next(1, s + 1)).ToArray();
        var srcShape = ishape.Select(s => s + (rng.Next(2) == 0 ? 0 : rng.Next(1, 3))).ToArray();
        var index = Index(rng, ishape, shape[d]);
        var self = which == 3 ? TensorGen.Random(rng, shape, DType.Float64) : GradGen.Leaf(rng, shape);
        var src = which == 2 ? TensorGen.Random(rng, srcShape, DType.Float64) : GradGen.Leaf(rng, srcShape);
        int dim = rng.Next(2) == 0 ? d : d - shape.Length;
        GradGen.AssertGrads($"ScatterAdd({dim}) self {F(shape)}{(self.RequiresGrad ? "*" : "")} index {F(ishape)} src {F(srcShape)}{(src.RequiresGrad ? "*" : "")}",
            t => t[0].ScatterAdd(dim, index, t[1]), self, src);
    }

    // ---------------------------------------------------------------- Where / MaskedFill

    [Property(MaxTest = 60)]
    public void WhereBroadcast(long seed)
    {
        var rng = new SeededRandom(seed);
        var shape = Shape(rng);
        var cond = Mask(rng, TensorGen.BroadcastPartner(rng, shape));
        // One of the three carries the full shape so the output has it.
        int full = rng.Next(3);
        var sa = full == 1 ? shape : TensorGen.BroadcastPartner(rng, shape);
        var sb = full == 2 ? shape : TensorGen.BroadcastPartner(rng, shape);
        if (full == 0) cond = Mask(rng, shape);
        int which = rng.Next(3); // 0: both; 1: a only; 2: b only
        var a = which == 2 ? TensorGen.Random(rng, sa, DType.Float64) : GradGen.Leaf(rng, sa);
        var b = which == 1 ? TensorGen.Random(rng, sb, DType.Float64) : GradGen.Leaf(rng, sb);
        GradGen.AssertGrads($"Where cond {F(cond)} a {F(sa)} b {F(sb)}", t => Tensor.Where(cond, t[0], t[1]), a, b);
    }

    [Property(MaxTest = 40)]
    public void WhereScalarForms(long seed)
    {
        var rng = new SeededRandom(seed);
        var shape = Shape(rng);
        var cond = Mask(rng, TensorGen.BroadcastPartner(rng, shape));
        var x = GradGen.Leaf(rng, shape);
        GradGen.AssertGrads($"Where(cond {F(cond)}, x {F(shape)}, 1.5)", t => Tensor.Where(cond, t[0], 1.5), x);
        GradGen.AssertGrads($"Where(cond {F(cond)}, -2.5, x {F(shape)})", t => Tensor.Where(cond, -2.5, t[0]), x);

        // Direct: the gradient is the cotangent where x was chosen and zero elsewhere.
        var full = cond.Expand(shape);
        var w = TensorGen.Random(rng, shape, DType.Float64);
        (Tensor.Where(cond, x, 1.5) * w).Sum().Backward();
        var flags = TensorGen.Values(full);
        var wv = TensorGen.Values(w);
        Check.Close(wv.Select((v, i) => flags[i] != 0 ? v : 0).ToArray(), x.Grad!, 0);
    }

    [Property(MaxTest = 40)]
    public void MaskedFill(long seed)
    {
        var rng = new SeededRandom(seed);
        var shape = Shape(rng);
        var mask = Mask(rng, TensorGen.BroadcastPartner(rng, shape));
        var x = GradGen.Leaf(rng, shape);
        GradGen.AssertGrads($"MaskedFill mask {F(mask)} on {F(shape)}", t => t[0].MaskedFill(mask, -7), x);

        var flags = TensorGen.Values(mask.Expand(shape));
        x.MaskedFill(mask, 3).Sum().Backward();
        Check.Close(flags.Select(f => f != 0 ? 0.0 : 1.0).ToArray(), x.Grad!, 0);
    }

    // ---------------------------------------------------------------- RepeatInterleave / MaskedSelect

    [Property(MaxTest = 50)]
    public void RepeatInterleaveInt(long seed)
    {
        var rng = new SeededRandom(seed);
        var x = GradGen.Leaf(rng, Shape(rng, 0, 3));
        int repeats = rng.Next(0, 4);
        if (rng.Next(2) == 0 || x.Rank == 0)
        {
            int? dim = x.Rank == 0 ? (rng.Next(2) == 0 ? null : 0) : null;
            GradGen.AssertGrads($"RepeatInterleave({repeats}, {dim?.ToString() ?? "null"}) of {F(x)}", t => t[0].RepeatInterleave(repeats, dim), x);
        }
        else
        {
            int dim = rng.Next(-x.Rank, x.Rank);
            GradGen.AssertGrads($"RepeatInterleave({repeats}, {dim}) of {F(x)}", t => t[0].RepeatInterleave(repeats, dim), x);
        }

        // Direct: each element's gradient is the number of its copies.
        x.RepeatInterleave(repeats).Sum().Backward();
        if (repeats == 0) Assert.True(x.Grad is null || TensorGen.Values(x.Grad).All(v => v == 0));
        else Check.Close(Enumerable.Repeat((double)repeats, x.NumElements).ToArray(), x.Grad!, 0);
    }

    [Property(MaxTest = 50)]
    public void RepeatInterleaveTensor(long seed)
    {
        var rng = new SeededRandom(seed);
        var x = GradGen.Leaf(rng, Shape(rng, 0, 3));
        int d = x.Rank == 0 ? 0 : rng.Next(x.Rank);
        int n = x.Rank == 0 ? 1 : x.Size(d);
        Tensor repeats = rng.Next(4) switch
        {
            0 => Tensor.FromArray(new long[] { rng.Next(0, 4) }),
            1 => Tensor.FromArray(new long[] { rng.Next(0, 4) }, []),
            _ => Tensor.FromArray(Enumerable.Range(0, n).Select(_ => (long)rng.Next(0, 4)).ToArray()),
        };
        if (rng.Next(3) == 0) repeats = repeats.To(DType.Int32);
        var counts = repeats.To(DType.Int64).Reshape(-1).ToArray<long>();
        GradGen.AssertGrads($"RepeatInterleave([{string.Join(",", counts)}], {d}) of {F(x)}", t => t[0].RepeatInterleave(repeats, d), x);
    }

    [Property(MaxTest = 50)]
    public void MaskedSelect(long seed)
    {
        var rng = new SeededRandom(seed);
        var shape = Shape(rng);
        // Either side may be the smaller one: x is broadcast to the mask's shape when the mask is larger.
        bool maskLarger = rng.Next(2) == 0;
        var xs = maskLarger ? TensorGen.BroadcastPartner(rng, shape) : shape;
        var ms = maskLarger ? shape : TensorGen.BroadcastPartner(rng, shape);
        var x = GradGen.Leaf(rng, xs);
        var mask = Mask(rng, ms);
        GradGen.AssertGrads($"MaskedSelect x {F(xs)} mask {F(ms)}", t => t[0].MaskedSelect(mask), x);

        // Direct: each element's gradient counts the selected positions it was broadcast to.
        x.MaskedSelect(mask).Sum().Backward();
        var flags = TensorGen.Values(mask.Expand(shape));
        var expected = new double[x.NumElements];
        int lead = shape.Length - xs.Length, k = 0;
        foreach (var pos in TensorGen.Indices(shape))
        {
            if (flags[k++] == 0) continue;
            var own = pos[lead..].Select((p, i) => xs[i] == 1 ? 0 : p).ToArray();
            int flat = 0;
            for (int i = 0; i < xs.Length; i++) flat = flat * xs[i] + own[i];
            expected[flat]++;
        }
        if (x.Grad is null) Assert.All(expected, v => Assert.Equal(0.0, v));
        else Check.Close(expected, x.Grad, 0);
    }
}
