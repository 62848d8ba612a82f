using Sparkle.Autograd;
using Sparkle.Models;
using Sparkle.Models.Spark;
using Sparkle.Nn;
using Sparkle.Tensors;
using Sparkle.Tests.Support;
using Xunit;

namespace Sparkle.Tests.Models;

/// <summary>The assembled SparK model: densify sizes and keys (SPARK.md §2.2, §5.7), shapes, loss at init, gradient
/// flow rules (§8.8, §8.9).</summary>
public class SparkModelTests
{
    private static long DensifyParams(SparkModel m) => m.NamedParameters()
        .Where(p => p.Name.StartsWith("densify_") || p.Name.StartsWith("mask_tokens")).Sum(p => (long)p.Parameter.NumElements);

    [Theory]
    [InlineData("resnet18", 1_558_752)]
    [InlineData("resnet50", 6_230_688)]
    [InlineData("convnext_small", 1_746_816)]
    [InlineData("convnext_base", 3_116_064)]
    [InlineData("convnext_large", 4_673_376)]
    public void DensifyParameterTotalsMatchSpark(string name, long expected)
    {
        using var _ = Init.Skip();
        var encoder = (IHierarchicalEncoder)Backbones.Create(name, new ModelOptions { Initialize = false });
        var norm = name.StartsWith("resnet") ? DensifyNorm.BatchNorm : DensifyNorm.LayerNorm;
        var spark = new SparkModel(encoder, 224, densifyNorm: norm, initialize: false);
        Assert.Equal(expected, DensifyParams(spark));
        Assert.Equal(23_183_115, spark.NamedParameters().Where(p => p.Name.StartsWith("dense_decoder.")).Sum(p => (long)p.Parameter.NumElements));
    }

    [Fact]
    public void ResNet50SparkHasTheOfficialKeysAndTotal()
    {
        using var _ = Init.Skip();
        var spark = new SparkModel(ResNet.ResNet50(new ModelOptions { Initialize = false }), 224, initialize: false);
        var keys = spark.StateDict().Keys.ToHashSet();
        foreach (var k in new[] { "sparse_encoder.sp_cnn.conv1.weight", "sparse_encoder.sp_cnn.layer4.2.bn3.num_batches_tracked",
                     "dense_decoder.dec.0.up_sample.weight", "dense_decoder.dec.4.conv.4.running_mean", "dense_decoder.proj.bias",
                     "densify_norms.0.running_var", "densify_projs.0.weight", "densify_projs.3.bias", "mask_tokens.0", "mask_tokens.3",
                     "imn_m", "imn_s", "norm_black" })
            Assert.Contains(k, keys);
        Assert.Equal(52.92, spark.NumParameters() / 1e6, 2);                       // SPARK.md §9: R50 total trainable
        Check.Shape(spark.StateDict()["mask_tokens.0"], 1, 2048, 1, 1);
        Assert.Equal(318, spark.Encoder.StateDict().Count);                         // timm-style encoder checkpoint
    }

    [Fact]
    public void ConvNeXtSmallHasNoFirstProjection()
    {
        using var _ = Init.Skip();
        var spark = new SparkModel(ConvNeXt.Small(new ModelOptions { Initialize = false }), 224, densifyNorm: DensifyNorm.LayerNorm, initialize: false);
        Assert.DoesNotContain("densify_projs.0.weight", spark.StateDict().Keys);
        Assert.Contains("densify_projs.1.weight", spark.StateDict().Keys);
    }

    [Theory]
    [InlineData("resnet18")]
    [InlineData("convnext_atto")]
    public void DensifiedMapsHaveTheDecoderShapesAt224(string name)
    {
        // SPARK.md §2.3: whatever the encoder's widths, the decoder receives 7²×768, 14²×384, 28²×192, 56²×96 at 224
        // (convnext_atto: encoder widths 40..320, so every projection changes the width).
        var encoder = (IHierarchicalEncoder)Backbones.Create(name, new ModelOptions { Generator = new Generator(5) });
        var norm = name.StartsWith("resnet") ? DensifyNorm.BatchNorm : DensifyNorm.LayerNorm;
        var spark = new SparkModel(encoder, 224, densifyNorm: norm, generator: new Generator(6));
        var images = Tensor.Randn([1, 3, 224, 224], new Generator(7));
        using var _ = GradMode.NoGrad();
        var maps = spark.Densify(images, spark.SampleMask(1, new Generator(8)));
        Assert.Equal(4, maps.Length);
        Check.Shape(maps[0], 1, 768, 7, 7);
        Check.Shape(maps[1], 1, 384, 14, 14);
        Check.Shape(maps[2], 1, 192, 28, 28);
        Check.Shape(maps[3], 1, 96, 56, 56);
    }

    private static SparkModel SmallResNet(int seed) =>
        new(ResNet.ResNet18(new ModelOptions { Generator = new Generator((ulong)seed) }, smallStem: true), 32, decoderWidth: 64,
            generator: new Generator((ulong)seed + 1));

    [Fact]
    public void ReconstructionHasTheInputShapeAndLossIsAboutOneAtInit()
    {
        var spark = SmallResNet(1);
        Assert.Equal(8, spark.Patch);
        Assert.Equal(4, spark.Grid);
        var images = Tensor.Randn([4, 3, 32, 32], new Generator(2));
        var active = spark.SampleMask(4, new Generator(3));
        Check.Shape(spark.Reconstruct(images, active), 4, 3, 32, 32);
        double loss = spark.Loss(images, active).Item();
        Assert.InRange(loss, 0.9, 1.2);
    }

    [Fact]
    public void MaskTokensGetGradientOnlyFromMaskedSitesAndEveryParameterGetsOne()
    {
        var spark = SmallResNet(4);
        var images = Tensor.Randn([2, 3, 32, 32], new Generator(5));
        var active = spark.SampleMask(2, new Generator(6));
        spark.Loss(images, active).Backward();
        foreach (var (name, p) in spark.NamedParameters())
            Assert.True(p.Grad is not null, $"{name} got no gradient");
        // With every site visible, the tokens are never selected: their gradient is exactly zero.
        spark.ZeroGrad();
        var allVisible = Tensor.Ones([2, 1, 4, 4], DType.Bool);
        var rec = spark.Reconstruct(images, allVisible);
        (rec * rec).Mean().Backward();
        for (int i = 0; i < 4; i++)
        {
            var grad = spark.StateDict()[$"mask_tokens.{i}"].Grad;
            Assert.True(grad is not null, $"mask_tokens.{i} got no gradient");
            Assert.All(grad.ToDoubleArray(), v => Assert.Equal(0, v));
        }
    }

    /// <summary>Each mask token's gradient is the sum, over the masked sites of its scale, of the gradient arriving at the
    /// densified map: checked against the loss's own derivative along a random direction of all four tokens (float64
    /// central differences, no autograd), and nonzero for every token (each scale has masked sites).</summary>
    [Fact]
    public void MaskTokenGradientsAreTheLossDerivative()
    {
        var o = new ModelOptions { DType = DType.Float64, Generator = new Generator(11) };
        var spark = new SparkModel(ResNet.ResNet18(o, smallStem: true), 32, decoderWidth: 16, dtype: DType.Float64, generator: new Generator(12));
        var images = Tensor.Randn([2, 3, 32, 32], new Generator(13), DType.Float64);
        var active = spark.SampleMask(2, new Generator(14));
        Assert.True(active.To(DType.Float64).Sum().Item() < 2 * 16, "the mask hides nothing");
        spark.Loss(images, active).Backward();
        var tokens = Enumerable.Range(0, 4).Select(i => spark.StateDict()[$"mask_tokens.{i}"]).ToArray();
        var directions = tokens.Select((t, i) => Tensor.Randn(t.ShapeArray(), new Generator(20 + (ulong)i), DType.Float64)).ToArray();
        double analytic = 0;
        for (int i = 0; i < 4; i++)
        {
            Assert.True(tokens[i].Grad is not null, $"mask_tokens.{i} got no gradient");
            Assert.True(tokens[i].Grad!.Abs().Max().Item() > 0, $"mask_tokens.{i}: zero gradient although sites are masked");
            analytic += (tokens[i].Grad! * directions[i]).Sum().Item();
        }
        const double h = 1e-5;
        double LossAt(double step)
        {
            using var _ = GradMode.NoGrad();
            for (int i = 0; i < 4; i++) tokens[i].Add_(directions[i] * step);
            double l = spark.Loss(images, active).Item();
            for (int i = 0; i < 4; i++) tokens[i].Add_(directions[i] * -step);
            return l;
        }
        double numeric = (LossAt(h) - LossAt(-h)) / (2 * h);
        Assert.True(Math.Abs(analytic - numeric) <= 1e-6 * Math.Abs(numeric), $"token gradient · d = {analytic:R}, loss derivative {numeric:R}");
    }

    [Fact]
    public void VisualizationPastesVisiblePatches()
    {
        var spark = SmallResNet(7);
        var images = Tensor.Randn([1, 3, 32, 32], new Generator(8));
        var active = spark.SampleMask(1, new Generator(9));
        var (input, masked, composite) = spark.Visualize(images, active);
        var m = active.To(DType.Float32).RepeatInterleave(8, 2).RepeatInterleave(8, 3).Expand(1, 3, 32, 32).ToDoubleArray();
        var img = images.ToDoubleArray();
        var comp = composite.ToDoubleArray();
        var msk = masked.ToDoubleArray();
        for (int i = 0; i < img.Length; i++)
        {
            if (m[i] == 1) { Assert.Equal(img[i], comp[i], 5); Assert.Equal(img[i], msk[i]); }
            else Assert.Equal(0, msk[i]);
        }
        Assert.Same(images, input);
    }
}

public class SparkCheckpointTests
{
    [Fact]
    public void BothCheckpointsRoundTripAndTheEncoderLoadsIntoADenseModel()
    {
        var dir = Directory.CreateTempSubdirectory("sparkle-ckpt");
        try
        {
            var model = new SparkModel(ResNet.ResNet18(new ModelOptions { Generator = new Generator(1) }, smallStem: true), 32, decoderWidth: 32, generator: new Generator(2));
            var opt = new Sparkle.Nn.Optim.Lamb(model.NamedParameters(), lr: 1e-3, weightDecay: 0.04);
            var images = Tensor.Randn([2, 3, 32, 32], new Generator(3));
            model.Loss(images, model.SampleMask(2, new Generator(4))).Backward();
            opt.Step();
            string withDecoder = Path.Combine(dir.FullName, "withdecoder.safetensors"), encoder = Path.Combine(dir.FullName, "encoder.safetensors");
            SparkCheckpoint.SaveWithDecoder(withDecoder, model, opt, new Dictionary<string, string> { ["epoch"] = "3" });
            SparkCheckpoint.SaveEncoder(encoder, model);

            var fresh = new SparkModel(ResNet.ResNet18(new ModelOptions { Generator = new Generator(9) }, smallStem: true), 32, decoderWidth: 32, generator: new Generator(10));
            var freshOpt = new Sparkle.Nn.Optim.Lamb(fresh.NamedParameters(), lr: 1e-3, weightDecay: 0.04);
            var meta = SparkCheckpoint.LoadWithDecoder(withDecoder, fresh, freshOpt);
            Assert.Equal("3", meta["epoch"]);
            Assert.Equal("true", meta["is_pretrain"]);
            foreach (var (k, v) in model.StateDict())
                Assert.Equal(v.ToDoubleArray(), fresh.StateDict()[k].ToDoubleArray());

            var dense = ResNet.ResNet18(new ModelOptions { NumClasses = 10 }, smallStem: true);
            var result = dense.LoadStateDict(Sparkle.Nn.Serialization.SafeTensors.Load(encoder).Tensors, strict: false);
            Assert.Equal(["fc.weight", "fc.bias"], result.MissingKeys);
            Assert.Empty(result.UnexpectedKeys);
            Assert.Equal(model.Encoder.StateDict()["layer1.0.conv1.weight"].ToDoubleArray(), dense.StateDict()["layer1.0.conv1.weight"].ToDoubleArray());

            var other = new SparkModel(ResNet.ResNet18(new ModelOptions(), smallStem: true), 32, maskRatio: 0.75, decoderWidth: 32);
            Assert.Throws<InvalidDataException>(() => SparkCheckpoint.LoadWithDecoder(withDecoder, other, null));
        }
        finally { dir.Delete(recursive: true); }
    }
}
