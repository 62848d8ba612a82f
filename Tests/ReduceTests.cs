using FsCheck.Xunit;
using Sparkle.Tensors;
using Sparkle.Tests.Support;
using Xunit;
using static Sparkle.Tests.ReduceReference;

namespace Sparkle.Tests;

/// <summary>Reductions against naive references: every axis subset, keepdim both ways, every layout, float and integer dtypes.</summary>
public class ReduceTests
{
    /// <summary>Every non-empty set of axes (an empty set means all axes, like no argument; rank 0 has only that).</summary>
    private static IEnumerable<int[]> Subsets(int rank) =>
        Enumerable.Range(rank == 0 ? 0 : 1, rank == 0 ? 1 : (1 << rank) - 1)
            .Select(m => Enumerable.Range(0, rank).Where(d => (m >> d & 1) != 0).ToArray());

    [Property(MaxTest = 15)]
    public void FloatReductionsOverEveryAxisSubset(long seed)
    {
        var rng = new SeededRandom(seed);
        var shape = TensorGen.RandomShape(rng);
        foreach (var dtype in new[] { DType.Float32, DType.Float64 })
            foreach (var layout in TensorGen.AllLayouts)
            {
                var x = TensorGen.Random(rng, shape, dtype, layout);
                double tol = Check.Tol(dtype);
                foreach (var axes in Subsets(shape.Length))
                {
                    var groups = Groups(x, axes);
                    var abs = groups.Select(g => 1 + g.Sum(Math.Abs)).ToArray();
                    var sq = groups.Select(g => 1 + g.Sum(v => v * v)).ToArray();
                    // all axes may also be given as null/empty, and negative axes count from the end
                    var given = axes.Length == shape.Length && rng.Next(2) == 0 ? null : axes.Select(a => rng.Next(2) == 0 ? a - shape.Length : a).ToArray();
                    foreach (bool keep in new[] { false, true })
                    {
                        string what = $"{dtype.Name()} {layout} {ShapeUtil.Format(shape)} axes ({string.Join(",", axes)}) keep={keep}";
                        var outShape = KeepShape(shape, axes, keep);
                        var sum = x.Sum(given, keep);
                        Check.Shape(sum, outShape);
                        Near(groups.Select(g => g.Sum()).ToArray(), abs, sum, tol, "Sum " + what);
                        Near(groups.Select(g => g.Average()).ToArray(), abs.Select((s, i) => s / groups[i].Count).ToArray(), x.Mean(given, keep), tol, "Mean " + what);
                        foreach (int c in new[] { 0, 1 })
                        {
                            var v = x.Var(given, c, keep);
                            Check.Shape(v, outShape);
                            Near(groups.Select(g => Var(g, c)).ToArray(), sq.Select((s, i) => s / Math.Max(1, groups[i].Count - c)).ToArray(), v, tol, $"Var({c}) " + what);
                        }
                        Near(groups.Select(g => g.Max()).ToArray(), abs, x.Max(given, keep), 0, "Max " + what);
                        Near(groups.Select(g => g.Min()).ToArray(), abs, x.Min(given, keep), 0, "Min " + what);
                        Assert.Equal(dtype, x.Max(given, keep).DType);
                    }
                }
            }
    }

    [Property(MaxTest = 15)]
    public void IntegerAndBoolReductions(long seed)
    {
        var rng = new SeededRandom(seed);
        var shape = TensorGen.RandomShape(rng);
        foreach (var dtype in new[] { DType.Bool, DType.Int32, DType.Int64 })
        {
            var x = TensorGen.Random(rng, shape, dtype, TensorGen.AllLayouts[rng.Next(4)]);
            foreach (var axes in Subsets(shape.Length))
            {
                var groups = Groups(x, axes);
                var ones = new double[groups.Length];
                var sum = x.Sum(axes, true);
                Assert.Equal(DType.Int64, sum.DType);
                Near(groups.Select(g => g.Sum()).ToArray(), ones, sum, 0, $"Sum {dtype.Name()}");
                var max = x.Max(axes, true);
                Assert.Equal(dtype, max.DType);
                Near(groups.Select(g => g.Max()).ToArray(), ones, max, 0, $"Max {dtype.Name()}");
                Near(groups.Select(g => g.Min()).ToArray(), ones, x.Min(axes, true), 0, $"Min {dtype.Name()}");
            }
        }
    }

    [Property(MaxTest = 20)]
    public void ArgMaxArgMinTakeTheFirstOfTies(long seed)
    {
        var rng = new SeededRandom(seed);
        var shape = TensorGen.RandomShape(rng, minRank: 1);
        foreach (var dtype in new[] { DType.Float32, DType.Float64, DType.Int32, DType.Bool })
            foreach (var layout in TensorGen.AllLayouts)
            {
                var x = ElementwiseReference.Quantize(TensorGen.Random(rng, shape, dtype, layout));
                for (int d = 0; d < shape.Length; d++)
                {
                    var groups = Groups(x, [d]);
                    var expMax = groups.Select(g => (double)g.IndexOf(g.Max())).ToArray();
                    var expMin = groups.Select(g => (double)g.IndexOf(g.Min())).ToArray();
                    foreach (bool keep in new[] { false, true })
                    {
                        var am = x.ArgMax(d - (keep ? shape.Length : 0), keep);
                        Assert.Equal(DType.Int64, am.DType);
                        Check.Shape(am, KeepShape(shape, [d], keep));
                        Near(expMax, expMax, am, 0, $"ArgMax dim {d} {dtype.Name()} {layout}");
                        Near(expMin, expMin, x.ArgMin(d, keep), 0, $"ArgMin dim {d} {dtype.Name()} {layout}");
                    }
                }
                var all = TensorGen.Values(x).ToList();
                Assert.Equal(all.IndexOf(all.Max()), (int)x.ArgMax().Item());
                Assert.Equal(all.IndexOf(all.Min()), (int)x.ArgMin().Item());
                Check.Shape(x.ArgMax());
            }
    }

    [Fact]
    public void NaNPropagatesAndArgReductionsPickTheFirstNaN()
    {
        var x = Tensor.FromArray(new[] { 1f, float.NaN, 3f, float.NaN, -1f, 2f }, [2, 3]);
        Assert.True(double.IsNaN(x.Max().Item()) && double.IsNaN(x.Min().Item()) && double.IsNaN(x.Sum().Item()));
        Assert.Equal(new double[] { double.NaN, double.NaN }, x.Max(1).ToDoubleArray());
        Assert.Equal(new double[] { double.NaN, double.NaN, 3 }, x.Max(0).ToDoubleArray());
        Assert.Equal(new double[] { 1, 0 }, x.ArgMax(1).ToDoubleArray());
        Assert.Equal(new double[] { 1, 0 }, x.ArgMin(1).ToDoubleArray());
        Assert.Equal(1, x.ArgMax().Item());
    }

    [Fact]
    public void EmptyAndDegenerateReductions()
    {
        var e = Tensor.Zeros([2, 0, 3]);
        Assert.Equal(new double[6], e.Sum(1).ToDoubleArray());
        Assert.True(e.Mean(1).ToDoubleArray().All(double.IsNaN));
        Check.Shape(e.Sum(0), 0, 3);
        Assert.Contains("zero elements", Assert.Throws<InvalidOperationException>(() => e.Max(1)).Message);
        Assert.Throws<InvalidOperationException>(() => e.ArgMax(1));
        var s = Tensor.Scalar(4);
        Assert.Equal(4, s.Sum().Item());
        Assert.Equal(4, s.Sum(0).Item());
        Assert.Equal(0, s.ArgMax().Item());
        Assert.True(double.IsNaN(Tensor.Ones([1, 3]).Var([0]).ToDoubleArray()[0])); // n - 1 = 0
        Assert.Equal(new double[] { 0, 0, 0 }, Tensor.Ones([1, 3]).Var([0], correction: 0).ToDoubleArray());
    }

    [Fact]
    public void ArgumentErrors()
    {
        var x = Tensor.Ones([2, 3]);
        Assert.Contains("twice", Assert.Throws<ArgumentException>(() => x.Sum(1, -1)).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => x.Sum(2));
        Assert.Contains("int32", Assert.Throws<InvalidOperationException>(() => Tensor.Ones([2], DType.Int32).Mean()).Message);
        Assert.Throws<InvalidOperationException>(() => Tensor.Ones([2], DType.Int64).Var());
        Assert.Throws<ArgumentOutOfRangeException>(() => x.Var(correction: -1));
    }

    public static TheoryData<string, DType> VarCases() => ElementwiseGoldenTests.CasesOf("reductions.safetensors", "var");

    /// <summary>out and grad_x, with dim and correction from the case's metadata.</summary>
    [Theory]
    [MemberData(nameof(VarCases))]
    public void VarianceMatchesPyTorch(string name, DType dtype)
    {
        var g = Golden.Open("reductions.safetensors", name);
        Assert.False(g.Bool("keepdim"));
        int correction = g.Int("correction");
        Assert.Equal(g.Bool("unbiased"), correction == 1);
        var x = ElementwiseGoldenTests.ToTensor(g["x"], dtype).RequireGrad();
        var y = x.Var([g.Int("dim")], correction);
        ElementwiseGoldenTests.AssertNormwise(g["out"], y, dtype);
        y.Backward(ElementwiseGoldenTests.ToTensor(g["R"], dtype));
        ElementwiseGoldenTests.AssertNormwise(g["grad_x"], x.Grad!, dtype);
        g.AssertAllRead();
    }
}
