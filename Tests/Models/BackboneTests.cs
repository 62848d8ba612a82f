using Sparkle.Models;
using Sparkle.Nn;
using Sparkle.Tensors;
using Sparkle.Tests.Support;
using Xunit;

namespace Sparkle.Tests.Models;

/// <summary>Backbones against SPARK.md §1.5 and §4: parameter counts, timm/official key names, feature-map shapes.</summary>
public class BackboneTests
{
    private static readonly ModelOptions Counting = new() { Initialize = false };

    private static long Count(Func<ModelOptions, Module> build)
    {
        using var _ = Init.Skip();       // the layers' default init is skipped too: counting only
        return build(Counting).NumParameters();
    }

    [Theory]
    [InlineData("resnet18", 11.18)]
    [InlineData("resnet34", 21.28)]
    [InlineData("resnet50", 23.51)]
    [InlineData("resnet101", 42.50)]
    [InlineData("resnet152", 58.14)]
    [InlineData("resnet200", 62.62)]
    [InlineData("convnext_tiny", 27.82)]
    [InlineData("convnext_small", 49.45)]
    [InlineData("convnext_base", 87.56)]
    [InlineData("convnext_large", 196.23)]
    public void ParameterCountsWithoutHeadMatchSpark(string name, double millions)
    {
        long n = Count(o => Backbones.Create(name, o));
        Assert.True(Math.Abs(n / 1e6 - millions) < 0.0051, $"{name}: {n:N0} parameters, SPARK.md says {millions} M");
    }

    [Fact]
    public void ParameterCountsWithHeadMatchTimm()
    {
        Assert.Equal(25_557_032, Count(o => ResNet.ResNet50(o with { NumClasses = 1000 })));
        Assert.Equal(11_689_512, Count(o => ResNet.ResNet18(o with { NumClasses = 1000 })));
        Assert.Equal(28_589_128, Count(o => ConvNeXt.Tiny(o with { NumClasses = 1000 })));
        foreach (var (name, m) in new[] { ("convnext_small", 50.22), ("convnext_base", 88.59), ("convnext_large", 197.77) })
        {
            long n = Count(o => Backbones.Create(name, o with { NumClasses = 1000 }));
            Assert.True(Math.Abs(n / 1e6 - m) < 0.0051, $"{name} with head: {n:N0}");
        }
    }

    [Fact]
    public void ResNet50StateDictHasTimmKeys()
    {
        using var _ = Init.Skip();
        var keys = ResNet.ResNet50(Counting).StateDict().Keys.ToList();
        Assert.Equal(318, keys.Count);                  // SPARK.md §5.7: 53 convs + 53 BNs x 5 entries
        Assert.Equal("conv1.weight", keys[0]);
        Assert.Contains("layer1.0.downsample.0.weight", keys);
        Assert.Contains("layer1.0.downsample.1.num_batches_tracked", keys);
        Assert.Contains("layer4.2.bn3.running_var", keys);
        Assert.DoesNotContain(keys, k => k.StartsWith("fc."));
    }

    [Fact]
    public void ConvNeXtStateDictHasOfficialKeys()
    {
        using var _ = Init.Skip();
        var keys = ConvNeXt.Tiny(Counting with { NumClasses = 10 }).StateDict().Keys.ToHashSet();
        foreach (var k in new[] { "downsample_layers.0.0.weight", "downsample_layers.0.1.bias", "downsample_layers.3.0.weight",
                     "downsample_layers.3.1.bias", "stages.2.8.dwconv.weight", "stages.2.8.norm.weight", "stages.2.8.pwconv1.weight",
                     "stages.2.8.pwconv2.bias", "stages.2.8.gamma", "norm.weight", "head.bias" })
            Assert.Contains(k, keys);
    }

    [Fact]
    public void InitFollowsTheFamilies()
    {
        var r = ResNet.ResNet18(new ModelOptions { Generator = new Generator(1) });
        var sd = r.StateDict();
        Assert.All(sd["layer1.0.bn2.weight"].ToDoubleArray(), v => Assert.Equal(0, v));      // zero_init_last_bn
        Assert.All(sd["layer1.0.bn1.weight"].ToDoubleArray(), v => Assert.Equal(1, v));
        var w = sd["layer2.0.conv1.weight"].ToDoubleArray();                                  // (128, 64, 3, 3), fan_out 1152
        double std = Math.Sqrt(w.Select(v => v * v).Average());
        Assert.InRange(std, 0.95 * Math.Sqrt(2.0 / 1152), 1.05 * Math.Sqrt(2.0 / 1152));
        var c = ConvNeXt.Atto(new ModelOptions { Generator = new Generator(2) }).StateDict();
        Assert.All(c["stages.0.0.gamma"].ToDoubleArray(), v => Assert.Equal(1e-6, v, 1e-12));
        Assert.All(c["stages.0.0.pwconv1.bias"].ToDoubleArray(), v => Assert.Equal(0, v));
        // timm ConvNeXt._init_weights: trunc_normal_(std=.02) for every Conv2d and Linear weight, bias 0.
        Check.NormalInit(c["stages.0.0.pwconv1.weight"].ToDoubleArray(), 0.02, "pwconv1.weight");
        Check.NormalInit(c["stages.2.0.pwconv2.weight"].ToDoubleArray(), 0.02, "pwconv2.weight");
        Check.NormalInit(c["stages.1.0.dwconv.weight"].ToDoubleArray(), 0.02, "dwconv.weight");
        Check.NormalInit(c["downsample_layers.1.1.weight"].ToDoubleArray(), 0.02, "downsample conv weight");
        Assert.All(c["stages.1.0.dwconv.bias"].ToDoubleArray(), v => Assert.Equal(0, v));
        // ResNet: kaiming_normal_(fan_out, relu) on every conv, including the stem and downsample 1x1s.
        Check.NormalInit(sd["conv1.weight"].ToDoubleArray(), Math.Sqrt(2.0 / (64 * 49)), "conv1.weight");
        Check.NormalInit(sd["layer3.0.downsample.0.weight"].ToDoubleArray(), Math.Sqrt(2.0 / 256), "downsample weight");
    }

    [Fact]
    public void FeatureMapsHaveTheHierarchicalShapes()
    {
        var r = ResNet.ResNet18(new ModelOptions { Generator = new Generator(3) });
        var maps = r.ForwardFeatures(Tensor.Randn([1, 3, 224, 224], new Generator(4)));
        int[][] expected = [[1, 64, 56, 56], [1, 128, 28, 28], [1, 256, 14, 14], [1, 512, 7, 7]];
        for (int i = 0; i < 4; i++) Check.Shape(maps[i], expected[i]);
        Assert.Equal([64, 128, 256, 512], r.FeatureMapChannels);
        Assert.Equal(32, r.DownsampleRatio);

        var small = ResNet.ResNet18(new ModelOptions { Generator = new Generator(5), NumClasses = 10 }, smallStem: true);
        Assert.Equal(8, small.DownsampleRatio);
        var smallMaps = small.ForwardFeatures(Tensor.Randn([2, 3, 32, 32], new Generator(6)));
        Check.Shape(smallMaps[0], 2, 64, 32, 32);
        Check.Shape(smallMaps[3], 2, 512, 4, 4);
        Check.Shape(small.Forward(Tensor.Randn([2, 3, 32, 32], new Generator(7))), 2, 10);

        var cnx = ConvNeXt.Atto(new ModelOptions { Generator = new Generator(8) });
        var cmaps = cnx.ForwardFeatures(Tensor.Randn([1, 3, 64, 64], new Generator(9)));
        Check.Shape(cmaps[0], 1, 40, 16, 16);
        Check.Shape(cmaps[3], 1, 320, 2, 2);
    }

    [Fact]
    public void DropPathRatesFollowTheRules()
    {
        using var _ = Init.Skip();
        var r = ResNet.ResNet50(Counting with { DropPath = 0.05 });
        var rates = r.NamedModules().Where(m => m.Module is Sparkle.Nn.Layers.DropPath).Select(m => ((Sparkle.Nn.Layers.DropPath)m.Module).P).ToArray();
        Assert.Equal(15, rates.Length);                         // 16 blocks, the first has rate 0 and no module
        Assert.Equal(0.05 * 1 / 15, rates[0], 12);
        Assert.Equal(0.05, rates[^1], 12);
        var c = ConvNeXt.Atto(Counting with { DropPath = 0.1 });
        var crates = c.NamedModules().Where(m => m.Module is Sparkle.Nn.Layers.DropPath).Select(m => ((Sparkle.Nn.Layers.DropPath)m.Module).P).ToArray();
        Assert.Equal(11, crates.Length);
        Assert.Equal(0.1, crates[^1], 12);
    }
}
