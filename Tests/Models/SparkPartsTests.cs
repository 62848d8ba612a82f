using FsCheck.Xunit;
using Sparkle.Models;
using Sparkle.Models.Spark;
using Sparkle.Nn;
using Sparkle.Tensors;
using Sparkle.Tests.Support;
using Xunit;

namespace Sparkle.Tests.Models;

/// <summary>SparK's decoder, patch layout, mask sampling and loss against SPARK.md §1.1, §2.3, §3, §9.</summary>
public class SparkPartsTests
{
    [Fact]
    public void DecoderHasTheOfficialParameterCountAndKeys()
    {
        using var _ = Init.Skip();
        var dec = new LightDecoder(32, 768, initialize: false);
        Assert.Equal(23_183_115, dec.NumParameters());
        var keys = dec.StateDict().Keys.ToHashSet();
        foreach (var k in new[] { "dec.0.up_sample.weight", "dec.0.up_sample.bias", "dec.0.conv.0.weight", "dec.0.conv.1.running_var",
                     "dec.4.conv.3.weight", "dec.4.conv.4.num_batches_tracked", "proj.weight", "proj.bias" })
            Assert.Contains(k, keys);
        Assert.DoesNotContain("dec.0.conv.0.bias", keys);
        Check.Shape(dec.StateDict()["dec.0.up_sample.weight"], 768, 768, 4, 4);
    }

    [Fact]
    public void DecoderInitFollowsTheOfficialRules()
    {
        var dec = new LightDecoder(4, 16, DType.Float64, new Generator(1));
        var sd = dec.StateDict();
        Check.NormalInit(sd["dec.0.conv.0.weight"].ToDoubleArray(), 0.02, "dec.0.conv.0.weight");    // trunc_normal_(std=.02)
        var up = sd["dec.0.up_sample.weight"].ToDoubleArray();                        // kaiming normal, fan_out = 16 * 16
        double std = Math.Sqrt(up.Select(v => v * v).Average());
        Assert.InRange(std, 0.8 * Math.Sqrt(2.0 / 256), 1.2 * Math.Sqrt(2.0 / 256));
        Assert.All(sd["dec.0.up_sample.bias"].ToDoubleArray(), v => Assert.Equal(0, v));
        Assert.All(sd["proj.bias"].ToDoubleArray(), v => Assert.Equal(0, v));
    }

    /// <summary>SPARK.md: mask tokens are trunc_normal_(std=.02, a=−.02, b=.02), truncated at ±1 std: all values inside,
    /// the std of a normal truncated at ±1σ (0.5396·0.02), not all equal.</summary>
    [Fact]
    public void MaskTokensAreTruncatedNormalWithinOneStd()
    {
        var spark = new SparkModel(ResNet.ResNet18(new ModelOptions { Generator = new Generator(1) }, smallStem: true), 32, decoderWidth: 16, generator: new Generator(2));
        var v = Enumerable.Range(0, 4).SelectMany(i => spark.StateDict()[$"mask_tokens.{i}"].ToDoubleArray()).ToArray();   // 512+256+128+64
        Assert.All(v, x => Assert.InRange(x, -0.02, 0.02));
        double sd = Math.Sqrt(v.Select(x => x * x).Average());
        Assert.InRange(sd, 0.95 * 0.5396 * 0.02, 1.05 * 0.5396 * 0.02);
        Assert.True(v.Count(x => Math.Abs(x) > 0.015) > v.Length / 10, "values do not reach the bounds");
    }

    [Fact]
    public void DecoderUpsamplesFromTheDeepestMapWithSkips()
    {
        var dec = new LightDecoder(8, 16, generator: new Generator(2));          // channels 16, 8, 4, 2
        var g = new Generator(3);
        var y = dec.Forward([Tensor.Randn([2, 16, 2, 2], g), Tensor.Randn([2, 8, 4, 4], g), Tensor.Randn([2, 4, 8, 8], g)]);
        Check.Shape(y, 2, 3, 16, 16);
    }

    /// <summary>The decoder's values against a hand composition from Functional convolutions and train-mode batch norm
    /// written out with tensor ops (batch mean, biased variance, eps 1e-5): per block ConvTranspose2d(4, 2, 1) + bias,
    /// conv3x3, BN, ReLU6, conv3x3, BN; the skips added before each block and the last one before the 1x1 head.</summary>
    [Fact]
    public void DecoderValuesEqualAHandComposition()
    {
        var dec = new LightDecoder(4, 8, DType.Float64, new Generator(4));         // channels 8, 4, 2
        var sd = dec.StateDict();
        var g = new Generator(5);
        var maps = new[] { Tensor.Randn([2, 8, 2, 2], g, DType.Float64), Tensor.Randn([2, 4, 4, 4], g, DType.Float64), Tensor.Randn([2, 2, 8, 8], g, DType.Float64) };
        var y = dec.Forward(maps);
        static Tensor Bn(Tensor x, Tensor gamma, Tensor beta)
        {
            int c = x.Size(1);
            var mean = x.Mean([0, 2, 3], keepDim: true);
            var variance = x.Var([0, 2, 3], correction: 0, keepDim: true);
            return (x - mean) / (variance + 1e-5).Sqrt() * gamma.Reshape(1, c, 1, 1) + beta.Reshape(1, c, 1, 1);
        }
        Tensor? x = null;
        for (int k = 0; k < 2; k++)
        {
            x = x is null ? maps[k] : x + maps[k];
            string b = $"dec.{k}.";
            x = Functional.ConvTranspose2d(x, sd[b + "up_sample.weight"], sd[b + "up_sample.bias"], stride: 2, padding: 1);
            x = Bn(Functional.Conv2d(x, sd[b + "conv.0.weight"], null, padding: 1), sd[b + "conv.1.weight"], sd[b + "conv.1.bias"]).Clamp(0, 6);
            x = Bn(Functional.Conv2d(x, sd[b + "conv.3.weight"], null, padding: 1), sd[b + "conv.4.weight"], sd[b + "conv.4.bias"]);
        }
        var expected = Functional.Conv2d(x! + maps[2], sd["proj.weight"], sd["proj.bias"]);
        Check.Shape(y, 2, 3, 8, 8);
        Check.Close(expected.ToDoubleArray(), y, 1e-12, 1e-12, "LightDecoder output");
    }

    [Property(MaxTest = 20)]
    public void PatchifyLayoutAndInverse(long seed)
    {
        var rng = new SeededRandom(seed);
        int p = rng.Next(1, 4), fh = rng.Next(1, 4), fw = rng.Next(1, 4), c = rng.Next(1, 4), b = rng.Next(1, 3);
        var img = TensorGen.Random(rng, [b, c, fh * p, fw * p], DType.Float64);
        var patches = Patches.Patchify(img, p);
        Check.Shape(patches, b, fh * fw, p * p * c);
        int bi = rng.Next(b), ci = rng.Next(c), y = rng.Next(fh * p), x = rng.Next(fw * p);
        int l = (y / p) * fw + x / p, inner = ((y % p) * p + x % p) * c + ci;      // ((py*p)+px)*C + c
        Assert.Equal(img.Get<double>(bi, ci, y, x), patches.Get<double>(bi, l, inner));
        Check.Close(img.ToDoubleArray(), Patches.Unpatchify(patches, p, c, fh, fw), 0);
    }

    [Theory]
    [InlineData(7, 0.6, 20)]
    [InlineData(7, 0.75, 12)]
    [InlineData(12, 0.75, 36)]
    [InlineData(12, 0.6, 58)]
    [InlineData(8, 0.6, 26)]
    [InlineData(6, 0.6, 14)]
    public void LenKeepRoundsHalfToEven(int f, double ratio, int keep) => Assert.Equal(keep, MaskSampler.LenKeep(f, ratio));

    [Fact]
    public void MasksKeepExactlyLenKeepPerImageAndDifferAcrossImages()
    {
        var m = MaskSampler.Sample(8, 7, 0.6, new Generator(5));
        Check.Shape(m, 8, 1, 7, 7);
        var rows = m.Reshape(8, 49).To(DType.Int64).Sum([1]).ToArray<long>();
        Assert.All(rows, r => Assert.Equal(20, r));
        Assert.NotEqual(m.Select(0, 0).ToArray<bool>(), m.Select(0, 1).ToArray<bool>());
        Assert.Equal(m.ToArray<bool>(), MaskSampler.Sample(8, 7, 0.6, new Generator(5)).ToArray<bool>());
    }

    [Fact]
    public void LossIsAboutOneForAZeroReconstruction()
    {
        var img = Tensor.Randn([2, 3, 64, 64], new Generator(6), DType.Float64);
        var active = MaskSampler.Sample(2, 2, 0.5, new Generator(7));
        double loss = SparkLoss.Loss(Tensor.Zeros([2, 3, 64, 64], DType.Float64), img, active, 32).Item();
        Assert.Equal(3071.0 / 3072, loss, 1e-5);                          // (N-1)/N: unbiased variance (eps 1e-6 aside)
    }

    [Fact]
    public void LossMatchesAHandComputation()
    {
        // 1 image, 1 channel, 2x2 patches of p = 2: a 4x2 image, patch 0 visible, patch 1 masked.
        var img = Tensor.FromArray(new double[] { 1, 2, 5, 7, 3, 4, 6, 9 }, [1, 1, 2, 4]);
        var rec = Tensor.FromArray(new double[] { 0, 0, 1, 0, 0, 0, 0, -1 }, [1, 1, 2, 4]);
        var active = Tensor.FromArray(new[] { true, false }, [1, 1, 1, 2]);
        double[] patch1 = [5, 7, 6, 9], rec1 = [1, 0, 0, -1];             // masked patch values and reconstruction, row-major in-patch
        double mean = patch1.Average(), var = patch1.Sum(v => (v - mean) * (v - mean)) / 3;
        double e = patch1.Select((v, i) => Math.Pow(rec1[i] - (v - mean) / Math.Sqrt(var + 1e-6), 2)).Average();
        Assert.Equal(e / (1 + 1e-8), SparkLoss.Loss(rec, img, active, 2).Item(), 12);
    }

    [Fact]
    public void VisiblePatchesOfTheReconstructionDoNotMatter()
    {
        var g = new Generator(8);
        var img = Tensor.Randn([2, 3, 8, 8], g, DType.Float64);
        var rec = Tensor.Randn([2, 3, 8, 8], g, DType.Float64).RequireGrad();
        var active = MaskSampler.Sample(2, 2, 0.5, g);
        var loss = SparkLoss.Loss(rec, img, active, 4);
        var visible = active.RepeatInterleave(4, 2).RepeatInterleave(4, 3).Expand(2, 3, 8, 8);
        var perturbed = Tensor.Where(visible, rec.Detach() + 5.0, rec.Detach());
        Assert.Equal(loss.Item(), SparkLoss.Loss(perturbed, img, active, 4).Item(), 12);
        loss.Backward();
        var grad = rec.Grad!.ToDoubleArray();
        var vis = visible.ToArray<bool>();
        for (int i = 0; i < grad.Length; i++) if (vis[i]) Assert.Equal(0, grad[i]);
    }
}
