using FsCheck.Xunit;
using Sparkle.Sparse;
using Sparkle.Tensors;
using Sparkle.Tensors.Cpu;
using Sparkle.Tests.Support;
using Xunit;
using static Sparkle.Tests.Sparse.SparseTestUtil;

namespace Sparkle.Tests.Sparse;

/// <summary>SparseOps.Conv2d against the masked-dense oracle (forward, input, weight and bias gradients), float64
/// gradient checks, thread-count independence and the neighbour maps.</summary>
public class SparseConvTests
{
    /// <summary>A random conv whose output map is still a multiple of f.</summary>
    internal sealed record Case(int N, int C, int O, int H, int K, int S, int P, int D, int G, int F, bool Bias)
    {
        public static Case Random(Random rng, bool small = false)
        {
            int f = rng.Next(1, small ? 3 : 4);
            int s = rng.Next(1, 3);
            int k, p, d = 1;
            int kind = rng.Next(6);
            if (kind == 0) { k = s; p = 0; }                     // patchify / downsample (k = s, no padding)
            else
            {
                k = new[] { 1, 3, 3, 5, 7 }[rng.Next(small ? 3 : 5)];
                if (k > 1 && rng.Next(3) == 0) d = 2;
                p = d * (k - 1) / 2;
            }
            int m = f * rng.Next(1, small ? 2 : 3);                // output side, a multiple of f
            int h = m * s;
            int g = 1, c, o;
            int gk = rng.Next(4);
            if (gk == 0) { c = o = rng.Next(2, small ? 5 : 20); g = c; }                // depthwise
            else if (gk == 1) { g = 2; c = 2 * rng.Next(1, 4); o = 2 * rng.Next(1, 4); } // grouped
            else { c = rng.Next(1, small ? 4 : 12); o = rng.Next(1, small ? 4 : 12); }
            return new Case(rng.Next(1, small ? 3 : 4), c, o, h, k, s, p, d, g, f, rng.Next(2) == 0);
        }
    }

    private static Tensor Conv(Case k, Tensor x, Tensor w, Tensor? b, bool sparse) => sparse
        ? SparseOps.Conv2d(x, w, b, [k.S], [k.P], [k.D], k.G)
        : MaskedDense.Conv2d(x, w, b, [k.S], [k.P], [k.D], k.G);

    [Property(MaxTest = 60)]
    public void MatchesMaskedDenseFloat32(long seed)
    {
        var rng = new SeededRandom(seed);
        var k = Case.Random(rng);
        var mask = RandomMask(rng, k.N, k.F);
        bool cl = rng.Next(2) == 0;
        var x0 = Activation(rng, k.N, k.C, k.H, k.H, DType.Float32, cl);
        var w0 = TensorGen.Random(rng, [k.O, k.C / k.G, k.K, k.K], DType.Float32);
        var b0 = k.Bias ? TensorGen.Random(rng, [k.O], DType.Float32) : null;
        using var ctx = SparseContext.Begin(mask);
        int oh = (k.H + 2 * k.P - k.D * (k.K - 1) - 1) / k.S + 1;
        var v = TensorGen.Random(rng, [k.N, k.O, oh, oh], DType.Float32);
        var results = new List<Tensor?[]>();
        foreach (bool sparse in new[] { true, false })
        {
            var x = CloneLike(x0).RequireGrad();
            var w = w0.Clone().RequireGrad();
            var b = b0?.Clone().RequireGrad();
            var y = Conv(k, x, w, b, sparse);
            (y * v).Sum().Backward();
            results.Add([y, x.Grad, w.Grad, b?.Grad]);
        }
        string what = $"{k} cl={cl}";
        ZeroAtMasked(results[0][0]!, ctx, what + " output");
        string[] names = ["output", "grad input", "grad weight", "grad bias"];
        for (int i = 0; i < 4; i++)
            if (results[1][i] is { } e) Near(e, results[0][i]!, 1e-4, $"{what} {names[i]}");
        if (cl && k.C > 1 && k.O > 1) Assert.True(results[0][0]!.Stride(1) == 1, "a channels-last input gives a channels-last output");
    }

    [Property(MaxTest = 15)]
    public void GradCheckFloat64(long seed)
    {
        var rng = new SeededRandom(seed);
        var k = Case.Random(rng, small: true);
        var mask = RandomMask(rng, k.N, k.F);
        var x = GradGen.Leaf(rng, [k.N, k.C, k.H, k.H]);
        var w = GradGen.Leaf(rng, [k.O, k.C / k.G, k.K, k.K]);
        var b = GradGen.Leaf(rng, [k.O]);
        using var ctx = SparseContext.Begin(mask);
        if (k.Bias) GradGen.AssertGrads($"SparseConv2d {k}", t => Conv(k, t[0], t[1], t[2], true), x, w, b);
        else GradGen.AssertGrads($"SparseConv2d {k}", t => Conv(k, t[0], t[1], null, true), x, w);
    }

    /// <summary>Changes the process-wide thread count, so it runs alone (ThreadCountCollection); nested to reach the cases.</summary>
    [Collection(nameof(ThreadCountCollection))]
    public class OnOneAndTwoThreads
    {
        [Property(MaxTest = 8)]
        public void IndependentOfThreadCount(long seed)
        {
            var rng = new SeededRandom(seed);
            var k = Case.Random(rng) with { N = 3 };
            var mask = RandomMask(rng, k.N, k.F);
            var x0 = Activation(rng, k.N, k.C, k.H, k.H, DType.Float32, rng.Next(2) == 0);
            var w0 = TensorGen.Random(rng, [k.O, k.C / k.G, k.K, k.K], DType.Float32);
            double[] Run(int threads) => Threads.With(threads, () =>
            {
                using var ctx = SparseContext.Begin(mask);
                var x = CloneLike(x0).RequireGrad();
                var w = w0.Clone().RequireGrad();
                var y = Conv(k, x, w, null, true);
                y.Square().Sum().Backward();
                return (double[])[.. y.ToDoubleArray(), .. x.Grad!.ToDoubleArray(), .. w.Grad!.ToDoubleArray()];
            });
            Assert.Equal(Run(1), Run(2));
        }
    }

    [Fact]
    public void NeighbourMapsAreCachedPerGeometryAndSkipMaskedNeighbours()
    {
        // 1 image, f = 2, only the top-left patch active, 4x4 map (2x2 sites per patch).
        var mask = new ActiveMask(1, 2, 2, [true, false, false, false]);
        using var ctx = SparseContext.Begin(mask);
        var g = new ConvGeometry(3, 3, 1, 1, 1, 1, 1, 1, 4, 4);
        var map = ctx.Neighbours(g);
        Assert.Same(map, ctx.Neighbours(g));
        Assert.Equal(4, map.Out.Count);
        Assert.Equal([0, 1, 4, 5], map.Out.Sites.ToArray());
        // Output site (0, 0): taps (-1, *) and (*, -1) out of bounds; (0,0)->row 0, (0,1)->row 1, (1,0)->row 2, (1,1)->row 3.
        Assert.Equal([-1, -1, -1, -1, 0, 1, -1, 2, 3], map.Rows.ToArray<int>()[..9]);
        // Output site (1, 1): its (2, *) and (*, 2) neighbours are masked.
        Assert.Equal([0, 1, -1, 2, 3, -1, -1, -1, -1], map.Rows.ToArray<int>()[27..36]);
        Assert.Equal(0, map.Inverse.ToArray<int>()[0 * 9 + 4]); // input row 0 is read by output row 0 through the centre tap
        Assert.Equal(0, map.Inverse.ToArray<int>()[3 * 9 + 8]); // input (1, 1) by output (0, 0) through tap (2, 2)
    }

    [Fact]
    public void FeatureMapNotAMultipleOfTheGridThrows()
    {
        using var ctx = SparseContext.Begin(new ActiveMask(1, 3, 3, new bool[9]));
        var x = Tensor.Zeros([1, 2, 8, 8]);
        var w = Tensor.Zeros([2, 2, 3, 3]);
        var e = Assert.Throws<ArgumentException>(() => SparseOps.Conv2d(x, w, null, [1], [1], [1], 1));
        Assert.Contains("multiple", e.Message);
    }

    [Fact]
    public void WithoutAContextThrows()
    {
        var e = Assert.Throws<InvalidOperationException>(() => SparseOps.Conv2d(Tensor.Zeros([1, 1, 2, 2]), Tensor.Zeros([1, 1, 1, 1]), null, [1], [0], [1], 1));
        Assert.Contains("SparseContext.Begin", e.Message);
    }
}
