using FsCheck.Xunit;
using Sparkle.Tensors;
using Sparkle.Tensors.Backend;
using Sparkle.Tests.Support;
using Xunit;

namespace Sparkle.Tests;

/// <summary>Philox known answers, the stream definition, reproducibility, and distribution moments.</summary>
public class RandomTests
{
    [Theory]
    // Random123 kat_vectors, philox4x32 10 rounds: counter words X0..X3, key words k0 k1, expected X0..X3 (same order as listed there).
    [InlineData(0u, 0u, 0u, 0u, 0u, 0u, 0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u)]
    [InlineData(0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu)]
    [InlineData(0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u, 0xa4093822u, 0x299f31d0u, 0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u)]
    public void PhiloxMatchesRandom123KnownAnswers(uint c0, uint c1, uint c2, uint c3, uint k0, uint k1, uint e0, uint e1, uint e2, uint e3)
    {
        Assert.Equal(new PhiloxBlock(e0, e1, e2, e3), Philox.Generate(new PhiloxBlock(c0, c1, c2, c3), k0, k1));
    }

    [Fact]
    public void AtMapsSeedToKeyAndCounterToLowWords()
    {
        ulong seed = 0x299f31d0a4093822, counter = 0x85a308d3243f6a88;
        Assert.Equal(Philox.Generate(new PhiloxBlock(0x243f6a88, 0x85a308d3, 0, 0), 0xa4093822, 0x299f31d0), Philox.At(seed, counter));
    }

    [Fact]
    public void ElementsFollowTheDocumentedStream()
    {
        const ulong seed = 1234;
        var g = new Generator(seed);
        var f32 = Tensor.Rand([100], g).ToArray<float>();
        var f64 = Tensor.Rand([100], g, DType.Float64).ToArray<double>();
        var n64 = Tensor.Randn([100], g, DType.Float64).ToArray<double>();
        var b = Tensor.Bernoulli([100], 0.25, g, DType.Bool).ToArray<bool>();
        for (int i = 0; i < 100; i++)
        {
            var p = Philox.At(seed, (ulong)i);
            Assert.Equal((p.X0 >> 8) / 16777216f, f32[i]);
            p = Philox.At(seed, 100 + (ulong)i);
            Assert.Equal((((ulong)p.X1 << 32 | p.X0) >> 11) / 9007199254740992.0, f64[i]);
            p = Philox.At(seed, 200 + (ulong)i);
            double u1 = ((((ulong)p.X1 << 32 | p.X0) >> 11) + 1) / 9007199254740992.0;
            double u2 = (((ulong)p.X3 << 32 | p.X2) >> 11) / 9007199254740992.0;
            Assert.Equal(Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2), n64[i]);
            p = Philox.At(seed, 300 + (ulong)i);
            Assert.Equal(p.X0 < 0x40000000u, b[i]);
        }
        Assert.Equal(400UL, g.Offset);
    }

    [Fact]
    public void SameSeedSameNumbersAndTheStreamIsContiguous()
    {
        var g1 = new Generator(7);
        var a = Tensor.Randn([1000], g1);
        var b = Tensor.Randn([500], g1);
        var all = Tensor.Randn([1500], new Generator(7));
        Assert.Equal(all.ToArray<float>(), Tensor.Cat([a, b], 0).ToArray<float>());
        Assert.NotEqual(a.ToArray<float>()[..500], b.ToArray<float>());
        Assert.NotEqual(Tensor.Rand([64], new Generator(7)).ToArray<float>(), Tensor.Rand([64], new Generator(8)).ToArray<float>());
        Assert.Equal(Tensor.Rand([64], new Generator(9)).ToArray<float>(), Tensor.Rand([64], new Generator(9)).ToArray<float>());
    }

    [Fact]
    public void DifferentOffsetsGiveDifferentNumbers()
    {
        var g = new Generator(5);
        var a = Tensor.Rand([256], g).ToArray<float>();
        var b = Tensor.Rand([256], g).ToArray<float>();
        Assert.True(a.Zip(b).Count(p => p.First == p.Second) < 3);
        g.SetState(new GeneratorState(5, 1));
        Assert.Equal(a[1..], Tensor.Rand([255], g).ToArray<float>());
    }

    [Fact]
    public void StateRoundTripsForResume()
    {
        var g = new Generator(42);
        Tensor.Rand([10], g);
        var state = g.GetState();
        Assert.Equal(new GeneratorState(42, 10), state);
        var next = Tensor.Randn([33], g).ToArray<float>();
        var resumed = new Generator(0);
        resumed.SetState(state);
        Assert.Equal(next, Tensor.Randn([33], resumed).ToArray<float>());
        resumed.ManualSeed(42);
        Assert.Equal(0UL, resumed.Offset);
        Assert.Equal(Tensor.Rand([10], new Generator(42)).ToArray<float>(), Tensor.Rand([10], resumed).ToArray<float>());
    }

    [Fact]
    public void DefaultGeneratorIsUsedWhenNoneIsGiven()
    {
        var before = Generator.Default.Offset;
        Tensor.Rand([17]);
        Assert.True(Generator.Default.Offset - before >= 17);   // other tests may draw concurrently
    }

    [Fact]
    public void InPlaceFillsOfViewsUseRowMajorOrder()
    {
        var fresh = Tensor.Uniform([4, 6], -1, 1, new Generator(3), DType.Float64).ToArray<double>();
        var view = Tensor.Zeros([6, 4], DType.Float64).T;
        view.Uniform_(-1, 1, new Generator(3));
        Assert.Equal(fresh, view.ToArray<double>());
        var contiguous = Tensor.Zeros([4, 6], DType.Float64);
        Assert.Same(contiguous, contiguous.Uniform_(-1, 1, new Generator(3)));
        Assert.Equal(fresh, contiguous.ToArray<double>());
    }

    [Theory]
    [InlineData(DType.Float32)]
    [InlineData(DType.Float64)]
    public void UniformAndNormalMoments(DType dtype)
    {
        const int n = 200_000;
        var g = new Generator(2024);
        var u = Tensor.Uniform([n], -2, 3, g, dtype).ToDoubleArray();
        Assert.All(u, v => Assert.True(v >= -2 && v < 3));
        AssertMoments(u, 0.5, 25.0 / 12, "uniform");
        var z = Tensor.Normal([n], 2, 3, g, dtype).ToDoubleArray();
        AssertMoments(z, 2, 9, "normal");
    }

    /// <summary>Mean and variance within 5 standard errors (for the variance, assuming a kurtosis of at most 3).</summary>
    private static void AssertMoments(double[] x, double mean, double variance, string what)
    {
        double m = x.Average(), v = x.Sum(t => (t - m) * (t - m)) / (x.Length - 1);
        double seMean = Math.Sqrt(variance / x.Length), seVar = variance * Math.Sqrt(2.0 / x.Length);
        Assert.True(Math.Abs(m - mean) < 5 * seMean, $"{what}: mean {m}, expected {mean}");
        Assert.True(Math.Abs(v - variance) < 5 * seVar, $"{what}: variance {v}, expected {variance}");
    }

    [Theory]
    // mean, std, a, b, and the truncated mean/variance (mpmath, 30 digits)
    [InlineData(0.0, 1.0, -2.0, 2.0, 0.0, 0.77374130354992325)]
    [InlineData(0.0, 0.02, -0.02, 0.02, 0.0, 0.00011645003790911729)]   // SparK mask tokens: realised std 0.0108
    [InlineData(1.0, 2.0, 0.0, 5.0, 1.8914875565450297, 1.5063753445473436)]
    [InlineData(0.0, 1.0, 0.5, 3.0, 1.1316649249513497, 0.24909903431507567)]
    public void TruncNormalRespectsBoundsAndMoments(double mean, double std, double a, double b, double tMean, double tVar)
    {
        var x = Tensor.TruncNormal([100_000], mean, std, a, b, new Generator(99), DType.Float64).ToDoubleArray();
        Assert.All(x, v => Assert.True(v >= a && v <= b, $"{v} outside [{a}, {b}]"));
        AssertMoments(x, tMean, tVar, "trunc normal");
        var f = Tensor.Zeros([1000]).TruncNormal_(mean, std, a, b, new Generator(99)).ToDoubleArray();
        Assert.All(f, v => Assert.True(v >= (float)a && v <= (float)b));
        Assert.Equal(x[..1000].Select(v => (double)(float)v), f);
    }

    [Fact]
    public void BernoulliFrequencyAndExtremes()
    {
        var g = new Generator(1);
        var x = Tensor.Bernoulli([200_000], 0.3, g, DType.Bool).ToArray<bool>();
        double freq = x.Count(v => v) / (double)x.Length;
        Assert.True(Math.Abs(freq - 0.3) < 5 * Math.Sqrt(0.21 / x.Length), $"frequency {freq}");
        Assert.All(Tensor.Bernoulli([1000], 0, g).ToArray<float>(), v => Assert.Equal(0f, v));
        Assert.All(Tensor.Bernoulli([1000], 1, g, DType.Float64).ToArray<double>(), v => Assert.Equal(1.0, v));
        Assert.Throws<ArgumentException>(() => Tensor.Bernoulli([3], 1.5));
    }

    [Fact]
    public void RandintCoversItsRange()
    {
        var x = Tensor.Randint(-3, 4, [10_000], new Generator(6)).ToArray<long>();
        Assert.All(x, v => Assert.InRange(v, -3, 3));
        Assert.Equal(7, x.Distinct().Count());
        Assert.Equal(DType.Int32, Tensor.Randint(0, 10, [5], dtype: DType.Int32).DType);
        Assert.Throws<ArgumentException>(() => Tensor.Randint(5, 5, [2]));
    }

    [Property(MaxTest = 20)]
    public void RandpermIsAPermutation(long seed)
    {
        int n = new SeededRandom(seed).Next(0, 2000);
        var g = new Generator((ulong)seed);
        var p = Tensor.Randperm(n, g).ToArray<long>();
        Assert.Equal((ulong)n, g.Offset);
        Assert.Equal(Enumerable.Range(0, n).Select(i => (long)i), p.Order());
        Assert.Equal(p, Tensor.Randperm(n, new Generator((ulong)seed)).ToArray<long>());
        // The documented definition: indices sorted by their Philox key.
        var keys = Enumerable.Range(0, n).Select(i => PhiloxSampling.PermutationKey(Philox.At((ulong)seed, (ulong)i))).ToArray();
        Assert.Equal(Enumerable.Range(0, n).OrderBy(i => keys[i]).ThenBy(i => i).Select(i => (long)i), p);
    }

    [Fact]
    public void RandpermDependsOnTheSeed()
    {
        Assert.NotEqual(Tensor.Randperm(50, new Generator(1)).ToArray<long>(), Tensor.Randperm(50, new Generator(2)).ToArray<long>());
    }

    [Fact]
    public void ArgumentErrors()
    {
        Assert.Throws<InvalidOperationException>(() => Tensor.Zeros([3], DType.Int64).Uniform_());
        Assert.Throws<InvalidOperationException>(() => Tensor.Normal([3], 0, 1, dtype: DType.Bool));
        Assert.Throws<ArgumentException>(() => Tensor.Zeros([3]).TruncNormal_(0, 1, 1, -1));
        Assert.Throws<ArgumentException>(() => Tensor.Zeros([3]).Normal_(0, -1));
        Assert.Throws<ArgumentException>(() => Tensor.Randperm(-1));
    }
}

/// <summary>erf/erfc/erfinv against mpmath (40 digits), to a few ulp.</summary>
public class RandomErrorFunctionTests
{
    [Theory]
    [InlineData(0.0, 0.0, 1.0)]
    [InlineData(1e-10, 1.128379167095512615e-10, 0.99999999988716208329)]
    [InlineData(0.1, 0.1124629160182848984, 0.8875370839817151016)]
    [InlineData(0.5, 0.52049987781304653768, 0.47950012218695346232)]
    [InlineData(1.0, 0.84270079294971486934, 0.15729920705028513066)]
    [InlineData(1.2, 0.91031397822963536837, 0.089686021770364631634)]
    [InlineData(1.3, 0.93400794494065244585, 0.06599205505934755415)]
    [InlineData(2.0, 0.99532226501895273416, 0.0046777349810472658379)]
    [InlineData(3.0, 0.99997790950300141456, 0.000022090496998585441373)]
    [InlineData(4.5, 0.99999999980338395585, 1.9661604415428874763e-10)]
    [InlineData(6.0, 0.99999999999999997848, 2.1519736712498913117e-17)]
    [InlineData(-0.7, -0.67780119383741844228, 1.6778011938374184423)]
    public void ErfAndErfcMatchMpmath(double x, double erf, double erfc)
    {
        AssertUlps(erf, ErrorFunction.Erf(x), 4);
        AssertUlps(erfc, ErrorFunction.Erfc(x), 4);
    }

    [Theory]
    [InlineData(1e-12, 8.8622692545275799582e-13)]
    [InlineData(0.001, 0.00088622715746655212301)]
    [InlineData(0.3, 0.27246271472675434502)]
    [InlineData(0.5, 0.47693627620446987338)]
    [InlineData(0.7, 0.73286907795921678488)]
    [InlineData(0.9, 1.1630871536766741628)]
    [InlineData(0.99, 1.8213863677184494559)]
    [InlineData(0.999, 2.3267537655135244939)]
    [InlineData(0.999999, 3.4589107372754987775)]
    [InlineData(0.9999999999, 4.5728249585449249378)]
    [InlineData(0.9999999999999998, 5.8050186831934533002)]
    [InlineData(-0.75, -0.81341984759761854169)]
    public void ErfInvMatchesMpmath(double y, double expected)
    {
        AssertUlps(expected, ErrorFunction.ErfInv(y), 4);
    }

    [Fact]
    public void ErfInvEdgesAndRoundTrip()
    {
        Assert.Equal(double.PositiveInfinity, ErrorFunction.ErfInv(1));
        Assert.Equal(double.NegativeInfinity, ErrorFunction.ErfInv(-1));
        Assert.True(double.IsNaN(ErrorFunction.ErfInv(1.5)));
        var rng = new Random(5);
        for (int i = 0; i < 2000; i++)
        {
            double y = rng.NextDouble() * 2 - 1;
            Assert.True(Math.Abs(ErrorFunction.Erf(ErrorFunction.ErfInv(y)) - y) <= 4e-16, $"y = {y:R}");
        }
    }

    // Random points (mpmath, 40 digits) across the table range, the continued-fraction tail and the erfinv tail.
    private static readonly (double X, double Y)[] ErfPoints = [(-2.290174, -0.9987996423939811), (-4.538961, -0.9999999998628818), (1.962148, 0.9944780690359867), (-5.558328, -0.9999999999999962), (0.466466, 0.49054242877226817), (-1.746044, -0.986461442372464), (-5.746014, -0.9999999999999996), (0.096665, 0.10873598643174988), (-6.012556, -1.0), (-0.862606, -0.7775006658338794), (-5.591879, -0.9999999999999973), (-5.320731, -0.9999999999999472), (-0.981251, -0.8347711185712263), (4.249078, 0.9999999981344826), (-4.890575, -0.9999999999953646), (-3.597893, -0.9999996385011386)];
    private static readonly (double X, double Y)[] ErfcPoints = [(16.313264, 9.172822979499085e-118), (24.640433, 4.7546392451809145e-266), (15.004677, 6.266649801165593e-100), (10.313692, 3.460309511560007e-48), (25.382633, 3.4685391331074744e-282), (1.21115, 0.08674478427493379), (22.32018, 1.0988429569765498e-218), (7.529841, 1.7662098854406507e-26), (3.750632, 1.1317150965972013e-07), (3.062598, 1.483207086406905e-05), (8.020527, 8.058305817267684e-30), (21.219285, 7.579215608007095e-198), (4.698886, 3.027474244323845e-11), (15.121604, 1.8358776827127677e-101), (16.61175, 4.859153655950078e-122), (9.682336, 1.1196444672275612e-42)];
    private static readonly (double Y, double X)[] ErfInvPoints = [(0.09548893141911563, 0.08482789098829108), (-0.8744220500533537, -1.083128539485503), (-0.8807976600675347, -1.1017645708444312), (-0.5880825743613469, -0.5801981187883585), (0.3607999463635718, 0.3315040694336103), (-0.14481538866119426, -0.1290521626559935), (-0.37170565924641696, -0.34233087945255614), (0.17112372701527745, 0.15283618977876934), (-0.09363124725844929, -0.08316990361671724), (-0.4004660062726353, -0.3712811032790718), (0.9998956475903349, 2.743745720201521), (0.9999956806411243, 3.2494330443375548), (0.999999999998905, 5.0331888056558585), (0.9999999325248593, 3.816798165533091), (0.9999999869578465, 4.0202638961591015), (0.9984529879881442, 2.2384999875188054)];

    [Fact]
    public void RandomPointsMatchMpmath()
    {
        foreach (var (x, y) in ErfPoints) AssertUlps(y, ErrorFunction.Erf(x), 4);
        foreach (var (x, y) in ErfcPoints) AssertUlps(y, ErrorFunction.Erfc(x), 4);
        foreach (var (y, x) in ErfInvPoints) AssertUlps(x, ErrorFunction.ErfInv(y), 4);
    }

    private static void AssertUlps(double expected, double actual, int ulps)
    {
        double tol = ulps * Math.Max(Math.Abs(expected) * 1.1102230246251565e-16, double.Epsilon);
        Assert.True(Math.Abs(actual - expected) <= tol, $"got {actual:R}, expected {expected:R} (diff {Math.Abs(actual - expected) / Math.Abs(expected) / 1.11e-16:F1} half-ulps)");
    }
}

[Collection(nameof(ThreadCountCollection))]
public class RandomThreadCountTests
{
    [Theory]
    [InlineData(RandomKind.Uniform, DType.Float32)]
    [InlineData(RandomKind.Normal, DType.Float64)]
    [InlineData(RandomKind.TruncatedNormal, DType.Float32)]
    [InlineData(RandomKind.Bernoulli, DType.Bool)]
    [InlineData(RandomKind.Randint, DType.Int64)]
    public void SameNumbersForAnyThreadCount(RandomKind kind, DType dtype)
    {
        int[] shape = [(1 << 20) + 123];   // above the pool's chunk size many times over
        double[] Draw() => (kind switch
        {
            RandomKind.Uniform => Tensor.Rand(shape, new Generator(77), dtype),
            RandomKind.Normal => Tensor.Randn(shape, new Generator(77), dtype),
            RandomKind.TruncatedNormal => Tensor.TruncNormal(shape, 0, 1, -2, 2, new Generator(77), dtype),
            RandomKind.Bernoulli => Tensor.Bernoulli(shape, 0.5, new Generator(77), dtype),
            _ => Tensor.Randint(0, 1000, shape, new Generator(77), dtype),
        }).ToDoubleArray();
        var one = IndexingThreadCountTests.WithThreads(1, Draw);
        Assert.Equal(one, IndexingThreadCountTests.WithThreads(2, Draw));
        Assert.Equal(one, IndexingThreadCountTests.WithThreads(3, Draw));
    }
}
