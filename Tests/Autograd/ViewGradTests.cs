using FsCheck.Xunit;
using Sparkle.Tensors;
using Sparkle.Tests.Support;
using Xunit;

namespace Sparkle.Tests.Autograd;

/// <summary>
/// Gradient checks of the view and copy ops (rules: Autograd/Rules/ViewRules.cs; Flatten, T, Transpose,
/// Squeeze, Unsqueeze, Contiguous reach them by composition) over random small shapes and leaf layouts.
/// </summary>
public class ViewGradTests
{
    private static int[] Shape(Random rng, int minRank = 0, int maxRank = 4) => TensorGen.RandomShape(rng, minRank, maxRank, 4);

    /// <summary>A random factorisation of n (with an occasional inserted 1, and maybe one -1), as a reshape target.</summary>
    private static int[] Factorisation(Random rng, int n, bool allowInfer = true)
    {
        var dims = new List<int>();
        int rest = n;
        for (int f = 2; f <= rest;)
        {
            if (rest % f == 0 && rng.Next(2) == 0) { dims.Add(f); rest /= f; } else f++;
        }
        if (rest > 1) dims.Add(rest);
        if (rng.Next(3) == 0) dims.Insert(rng.Next(dims.Count + 1), 1);
        var target = dims.OrderBy(_ => rng.Next()).ToArray();
        if (allowInfer && target.Length > 0 && rng.Next(3) == 0) target[rng.Next(target.Length)] = -1;
        return target;
    }

    [Property(MaxTest = 40)]
    public void ViewOfContiguousLeaf(long seed)
    {
        var rng = new SeededRandom(seed);
        var x = GradGen.Leaf(rng, Shape(rng), Layout.Contiguous);
        var target = Factorisation(rng, x.NumElements);
        var y = x.View(target);
        Assert.Same(x.Storage, y.Storage);
        Assert.Equal("ReshapeBackward", y.GradFnName);
        GradGen.AssertGrads($"View {ShapeUtil.Format(x.Shape)} -> ({string.Join(", ", target)})", t => t[0].View(target), x);
    }

    [Property(MaxTest = 40)]
    public void ReshapeAnyLayout(long seed)
    {
        var rng = new SeededRandom(seed);
        var x = GradGen.Leaf(rng, Shape(rng));
        var target = Factorisation(rng, x.NumElements);
        GradGen.AssertGrads($"Reshape {ShapeUtil.Format(x.Shape)} -> ({string.Join(", ", target)})", t => t[0].Reshape(target), x);
    }

    /// <summary>Reshape of a transposed leaf cannot be a view: it copies (Clone) and then views; the gradient
    /// must flow back through both steps into the transposed layout.</summary>
    [Property(MaxTest = 40)]
    public void ReshapeCopyingPathOnPermutedLeaf(long seed)
    {
        var rng = new SeededRandom(seed);
        int rank = rng.Next(2, 5);
        var baseShape = Enumerable.Range(0, rank).Select(_ => rng.Next(2, 5)).ToArray();
        int last = rank - 1;
        var x = TensorGen.Random(rng, baseShape, DType.Float64).Transpose(0, last).RequireGrad();
        Assert.True(x.IsLeaf);
        Assert.False(x.IsContiguous);
        // A random target when the strides do not allow it as a view, else flattening (never a view here).
        var target = Factorisation(rng, x.NumElements, allowInfer: false);
        if (rng.Next(3) == 0 || ShapeUtil.ViewStrides(x.Shape, x.Strides, target) is not null) target = [-1];
        var y = x.Reshape(target);
        Assert.NotSame(x.Storage, y.Storage);
        Assert.Equal("ReshapeBackward", y.GradFnName);
        GradGen.AssertGrads($"Reshape (copy) {ShapeUtil.Format(x.Shape)} -> ({string.Join(", ", target)})", t => t[0].Reshape(target), x);
    }

    [Property(MaxTest = 40)]
    public void Flatten(long seed)
    {
        var rng = new SeededRandom(seed);
        var x = GradGen.Leaf(rng, Shape(rng));
        if (x.Rank == 0)
        {
            GradGen.AssertGrads("Flatten 0-d", t => t[0].Flatten(), x);
            return;
        }
        int a = rng.Next(x.Rank), b = rng.Next(a, x.Rank);
        int sa = rng.Next(2) == 0 ? a : a - x.Rank, sb = rng.Next(2) == 0 ? b : b - x.Rank;
        GradGen.AssertGrads($"Flatten({sa}, {sb}) of {ShapeUtil.Format(x.Shape)}", t => t[0].Flatten(sa, sb), x);
    }

    [Property(MaxTest = 40)]
    public void Permute(long seed)
    {
        var rng = new SeededRandom(seed);
        var x = GradGen.Leaf(rng, Shape(rng));
        var perm = Enumerable.Range(0, x.Rank).OrderBy(_ => rng.Next()).Select(d => rng.Next(2) == 0 ? d : d - x.Rank).ToArray();
        GradGen.AssertGrads($"Permute({string.Join(", ", perm)}) of {ShapeUtil.Format(x.Shape)}", t => t[0].Permute(perm), x);
    }

    [Property(MaxTest = 40)]
    public void Transpose(long seed)
    {
        var rng = new SeededRandom(seed);
        var x = GradGen.Leaf(rng, Shape(rng, 1));
        int d0 = rng.Next(-x.Rank, x.Rank), d1 = rng.Next(-x.Rank, x.Rank);
        GradGen.AssertGrads($"Transpose({d0}, {d1}) of {ShapeUtil.Format(x.Shape)}", t => t[0].Transpose(d0, d1), x);
    }

    [Property(MaxTest = 30)]
    public void T(long seed)
    {
        var rng = new SeededRandom(seed);
        var x = GradGen.Leaf(rng, Shape(rng, 2, 2));
        GradGen.AssertGrads($"T of {ShapeUtil.Format(x.Shape)}", t => t[0].T, x);
        // Twice is the identity: the gradient is the cotangent itself.
        var w = TensorGen.Random(rng, x.ShapeArray(), DType.Float64);
        (x.T.T * w).Sum().Backward();
        Check.Close(TensorGen.Values(w), x.Grad!, 0);
    }

    [Property(MaxTest = 50)]
    public void SliceWithStepAndNegativeStart(long seed)
    {
        var rng = new SeededRandom(seed);
        var x = GradGen.Leaf(rng, Shape(rng, 1));
        int d = rng.Next(x.Rank), n = x.Size(d);
        int start = rng.Next(-n, 0);
        int end = rng.Next(4) switch { 0 => n + rng.Next(0, 3), 1 => -rng.Next(0, n), _ => rng.Next(0, n + 1) };
        int step = rng.Next(1, 4);
        int dim = rng.Next(2) == 0 ? d : d - x.Rank;
        GradGen.AssertGrads($"Slice({dim}, {start}, {end}, {step}) of {ShapeUtil.Format(x.Shape)}", t => t[0].Slice(dim, start, end, step), x);
    }

    /// <summary>Slice positions that are not selected get exactly zero, selected ones the cotangent.</summary>
    [Property(MaxTest = 30)]
    public void SliceGradientIsZeroOutsideTheSlice(long seed)
    {
        var rng = new SeededRandom(seed);
        int n = rng.Next(1, 9), start = rng.Next(-n, n), step = rng.Next(1, 4);
        var x = GradGen.Leaf(rng, [n]);
        var y = x.Slice(0, start, n, step);
        var w = TensorGen.Random(rng, y.ShapeArray(), DType.Float64);
        (y * w).Sum().Backward();
        var expected = new double[n];
        var wv = TensorGen.Values(w);
        int s = start < 0 ? start + n : start;
        for (int k = 0; k < wv.Length; k++) expected[s + k * step] = wv[k];
        Check.Close(expected, x.Grad!, 0);
    }

    [Property(MaxTest = 40)]
    public void Narrow(long seed)
    {
        var rng = new SeededRandom(seed);
        var x = GradGen.Leaf(rng, Shape(rng, 1));
        int d = rng.Next(x.Rank), n = x.Size(d);
        int start = rng.Next(0, n), length = rng.Next(0, n - start + 1);
        int signedStart = rng.Next(2) == 0 ? start : start - n;
        GradGen.AssertGrads($"Narrow({d}, {signedStart}, {length}) of {ShapeUtil.Format(x.Shape)}", t => t[0].Narrow(d, signedStart, length), x);
    }

    [Property(MaxTest = 40)]
    public void SelectNegativeIndex(long seed)
    {
        var rng = new SeededRandom(seed);
        var x = GradGen.Leaf(rng, Shape(rng, 1));
        int d = rng.Next(x.Rank), n = x.Size(d);
        int index = rng.Next(-n, 0), dim = rng.Next(2) == 0 ? d : d - x.Rank;
        GradGen.AssertGrads($"Select({dim}, {index}) of {ShapeUtil.Format(x.Shape)}", t => t[0].Select(dim, index), x);
    }

    [Property(MaxTest = 50)]
    public void ExpandWithNewLeadingDims(long seed)
    {
        var rng = new SeededRandom(seed);
        var target = Shape(rng);
        var xs = TensorGen.BroadcastPartner(rng, target);
        var x = GradGen.Leaf(rng, xs);
        // Some kept dims as -1 (allowed only for dims x has).
        var arg = (int[])target.Clone();
        int lead = target.Length - xs.Length;
        for (int i = lead; i < arg.Length; i++) if (xs[i - lead] == target[i] && rng.Next(3) == 0) arg[i] = -1;
        bool broadcastTo = rng.Next(2) == 0;
        GradGen.AssertGrads($"{(broadcastTo ? "BroadcastTo" : "Expand")} {ShapeUtil.Format(xs)} -> ({string.Join(", ", arg)})",
            t => broadcastTo ? t[0].BroadcastTo(target) : t[0].Expand(arg), x);
    }

    /// <summary>Expanding sums the gradient over the copies: expanding (n) to (k, n) gives k·1 per element.</summary>
    [Property(MaxTest = 20)]
    public void ExpandGradientCountsCopies(long seed)
    {
        var rng = new SeededRandom(seed);
        int n = rng.Next(1, 5), k = rng.Next(1, 5), m = rng.Next(1, 5);
        var x = GradGen.Leaf(rng, [n, 1]);
        x.Expand(k, n, m).Sum().Backward();
        Check.Close(Enumerable.Repeat((double)k * m, n).ToArray(), x.Grad!, 0);
    }

    /// <summary>A shape with some size-1 dims sprinkled in.</summary>
    private static int[] ShapeWithOnes(Random rng)
    {
        var s = new List<int>(Shape(rng, 0, 3));
        int ones = rng.Next(0, 3);
        for (int i = 0; i < ones; i++) s.Insert(rng.Next(s.Count + 1), 1);
        return [.. s];
    }

    [Property(MaxTest = 40)]
    public void SqueezeAll(long seed)
    {
        var rng = new SeededRandom(seed);
        var x = GradGen.Leaf(rng, ShapeWithOnes(rng));
        GradGen.AssertGrads($"Squeeze() of {ShapeUtil.Format(x.Shape)}", t => t[0].Squeeze(), x);
    }

    [Property(MaxTest = 40)]
    public void SqueezeOneDim(long seed)
    {
        var rng = new SeededRandom(seed);
        var x = GradGen.Leaf(rng, ShapeWithOnes(rng));
        if (x.Rank == 0) x = GradGen.Leaf(rng, [1]);
        // Any dim: squeezing a dim that is not 1 is a no-op, as in torch.
        int d = rng.Next(-x.Rank, x.Rank);
        GradGen.AssertGrads($"Squeeze({d}) of {ShapeUtil.Format(x.Shape)}", t => t[0].Squeeze(d), x);
    }

    [Property(MaxTest = 40)]
    public void Unsqueeze(long seed)
    {
        var rng = new SeededRandom(seed);
        var x = GradGen.Leaf(rng, Shape(rng, 0, 3));
        int d = rng.Next(-x.Rank - 1, x.Rank + 1);
        GradGen.AssertGrads($"Unsqueeze({d}) of {ShapeUtil.Format(x.Shape)}", t => t[0].Unsqueeze(d), x);
    }

    [Property(MaxTest = 40)]
    public void Contiguous(long seed)
    {
        var rng = new SeededRandom(seed);
        var x = GradGen.Leaf(rng, Shape(rng));
        var y = x.Contiguous();
        Assert.True(y.IsContiguous);
        if (x.IsContiguous) Assert.Same(x, y); else Assert.Equal("CloneBackward", y.GradFnName);
        GradGen.AssertGrads($"Contiguous of {ShapeUtil.Format(x.Shape)} strides {ShapeUtil.Format(x.Strides)}", t => t[0].Contiguous() * 1.5, x);
    }

    [Property(MaxTest = 40)]
    public void Clone(long seed)
    {
        var rng = new SeededRandom(seed);
        var x = GradGen.Leaf(rng, Shape(rng));
        Assert.Equal("CloneBackward", x.Clone().GradFnName);
        GradGen.AssertGrads($"Clone of {ShapeUtil.Format(x.Shape)}", t => t[0].Clone(), x);
    }

    /// <summary>3-5 random view ops (each valid for the current shape), then either a reduction or a product
    /// with a random tensor, so that each view's backward sees a non-uniform, non-contiguous gradient.</summary>
    [Property(MaxTest = 60)]
    public void RandomViewChain(long seed)
    {
        var rng = new SeededRandom(seed);
        var x = GradGen.Leaf(rng, Shape(rng));
        var ops = new List<(string Name, Func<Tensor, Tensor> Op)>();
        var shape = x.ShapeArray();
        int count = rng.Next(3, 6);
        while (ops.Count < count)
        {
            var step = RandomViewOp(rng, shape);
            if (step is null) continue;
            ops.Add((step.Value.Name, step.Value.Op));
            using (Sparkle.Autograd.GradMode.NoGrad()) shape = step.Value.Op(Tensor.Zeros(shape, DType.Float64)).ShapeArray();
        }
        Tensor Chain(Tensor t) { foreach (var (_, op) in ops) t = op(t); return t; }

        var w = TensorGen.Random(rng, shape, DType.Float64);
        int ending = rng.Next(3), reduceDim = shape.Length == 0 ? 0 : rng.Next(shape.Length);
        string what = $"{ShapeUtil.Format(x.Shape)} -> {string.Join(" -> ", ops.Select(o => o.Name))} -> "
            + (ending == 0 ? "*w" : ending == 1 ? "*w .Sum" : "Square.Sum(" + reduceDim + ")");
        GradGen.AssertGrads(what, t =>
        {
            var y = Chain(t[0]);
            return ending switch
            {
                0 => y * w,
                1 => (y * w).Sum(),
                _ => y.Rank == 0 ? y.Square() : y.Square().Sum(reduceDim),
            };
        }, x);
    }

    private static (string Name, Func<Tensor, Tensor> Op)? RandomViewOp(Random rng, int[] shape)
    {
        int rank = shape.Length;
        int n = shape.Aggregate(1, (a, b) => a * b);
        switch (rng.Next(9))
        {
            case 0:
            {
                var target = Factorisation(rng, n);
                return ($"Reshape({string.Join(",", target)})", t => t.Reshape(target));
            }
            case 1 when rank >= 1:
            {
                var perm = Enumerable.Range(0, rank).OrderBy(_ => rng.Next()).ToArray();
                return ($"Permute({string.Join(",", perm)})", t => t.Permute(perm));
            }
            case 2 when rank >= 1:
            {
                int d = rng.Next(rank), start = rng.Next(-shape[d], shape[d]), step = rng.Next(1, 3);
                int s = start < 0 ? start + shape[d] : start;
                if (s >= shape[d]) return null;
                return ($"Slice({d},{start},..,{step})", t => t.Slice(d, start, shape[d], step));
            }
            case 3 when rank >= 1:
            {
                int d = rng.Next(rank), index = rng.Next(-shape[d], shape[d]);
                return ($"Select({d},{index})", t => t.Select(d, index));
            }
            case 4 when rank < 5:
            {
                int d = rng.Next(-rank - 1, rank + 1);
                return ($"Unsqueeze({d})", t => t.Unsqueeze(d));
            }
            case 5 when rank >= 1 && shape.Contains(1):
                return ("Squeeze()", t => t.Squeeze());
            case 6 when rank < 5 && n <= 32:
            {
                var target = new List<int> { rng.Next(1, 3) };
                foreach (int s in shape) target.Add(s == 1 && rng.Next(2) == 0 ? rng.Next(1, 4) : s);
                var arr = target.ToArray();
                return ($"Expand({string.Join(",", arr)})", t => t.Expand(arr));
            }
            case 7 when rank >= 2:
            {
                int a = rng.Next(rank), b = rng.Next(rank);
                return ($"Transpose({a},{b})", t => t.Transpose(a, b));
            }
            case 8 when rank >= 1:
            {
                int d = rng.Next(rank), start = rng.Next(shape[d]), len = rng.Next(1, shape[d] - start + 1);
                return ($"Narrow({d},{start},{len})", t => t.Narrow(d, start, len));
            }
            default:
                return null;
        }
    }

    /// <summary>To(float32) and back: the gradient is the float64 cotangent rounded through float32 (its
    /// backward converts it to float32 and back), and the leaf's gradient is float64 like the leaf.</summary>
    [Property(MaxTest = 30)]
    public void ToFloat32AndBack(long seed)
    {
        var rng = new SeededRandom(seed);
        var x = GradGen.Leaf(rng, Shape(rng));
        var w = TensorGen.Random(rng, x.ShapeArray(), DType.Float64);
        var y32 = x.To(DType.Float32);
        Assert.Equal(DType.Float32, y32.DType);
        Assert.Equal("ToDTypeBackward", y32.GradFnName);
        var y = y32.To(DType.Float64);
        (y.Square() * w).Sum().Backward();
        Assert.NotNull(x.Grad);
        Assert.Equal(DType.Float64, x.Grad!.DType);
        Check.Shape(x.Grad, x.ShapeArray());
        // d/dx sum(w·y²) = 2·w·y with y = (float)x; the gradient passes float32 once on the way back.
        var xv = TensorGen.Values(x);
        var wv = TensorGen.Values(w);
        var expected = xv.Select((v, i) => (double)(float)(2 * wv[i] * (float)v)).ToArray();
        Check.Close(expected, x.Grad, 1e-6, 1e-7);
    }

    /// <summary>To(device) and back with the fake device (it stores data and has no kernels; To() needs none):
    /// the gradient crosses back to the CPU through both ToDevice nodes.</summary>
    [Property(MaxTest = 20)]
    public void ToFakeDeviceAndBack(long seed)
    {
        var fake = FakeBackend.Instance.Device;
        var rng = new SeededRandom(seed);
        var x = GradGen.Leaf(rng, Shape(rng));
        var remote = x.To(fake);
        Assert.Equal(fake, remote.Device);
        Assert.Equal("ToDeviceBackward", remote.GradFnName);
        GradGen.AssertGrads($"To(fake).To(cpu) of {ShapeUtil.Format(x.Shape)}", t => t[0].To(fake).To(Device.Cpu) * 2.0, x);

        // Backward from a root that lives on the fake device: the cotangent comes back to the CPU unchanged.
        x.Grad = null;
        var v = TensorGen.Random(rng, x.ShapeArray(), DType.Float64);
        x.To(fake).Backward(v.To(fake));
        Assert.Equal(Device.Cpu, x.Grad!.Device);
        Check.Close(TensorGen.Values(v), x.Grad, 0);
    }
}
