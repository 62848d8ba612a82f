using Sparkle.Autograd;
using System.Text.RegularExpressions;
using Sparkle.Models;
using Sparkle.Tensors;
using Xunit;

namespace Sparkle.Tests.Models;

/// <summary>EncoderWeights: the key mapping of foreign encoder state dicts (the CLI's --init-weight, Tests/Cli/InitWeightCliTests).</summary>
public class EncoderWeightsTests
{
    private static Dictionary<string, Tensor> Random(Sparkle.Nn.Module m, ulong seed)
    {
        var g = new Generator(seed);
        using var _ = GradMode.NoGrad();
        foreach (var (_, t) in m.StateDict()) if (t.DType == DType.Float32) t.Copy_(Tensor.Randn(t.ShapeArray(), g));
        return m.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.Clone());
    }

    /// <summary>timm's convnext checkpoint_filter_fn (official keys -> timm keys), as timm writes it.</summary>
    private static string ToTimm(string k)
    {
        k = k.Replace("downsample_layers.0.", "stem.", StringComparison.Ordinal);
        k = Regex.Replace(k, @"stages.([0-9]+).([0-9]+)", "stages.$1.blocks.$2");
        k = Regex.Replace(k, @"downsample_layers.([0-9]+).([0-9]+)", "stages.$1.downsample.$2");
        k = k.Replace("dwconv", "conv_dw", StringComparison.Ordinal).Replace("pwconv", "mlp.fc", StringComparison.Ordinal);
        k = k.Replace("head.", "head.fc.", StringComparison.Ordinal);
        return k.StartsWith("norm.", StringComparison.Ordinal) ? "head." + k : k;
    }

    [Fact]
    public void TimmConvNeXtKeysLoadIntoTheOfficialLayoutWithoutTheHead()
    {
        var withHead = Backbones.Create("convnext_atto", new ModelOptions { Initialize = false, NumClasses = 10 });
        var values = Random(withHead, 5);
        var timm = values.ToDictionary(kv => ToTimm(kv.Key), kv => kv.Value);
        Assert.Contains("stages.1.blocks.0.mlp.fc1.weight", timm.Keys);
        Assert.Contains("stages.1.downsample.1.weight", timm.Keys);
        Assert.Contains("head.norm.weight", timm.Keys);

        var w = EncoderWeights.From(timm);
        Assert.Equal("convnext_atto", w.Architecture);
        Assert.Null(w.SmallStem);
        Assert.Contains(w.Notes, n => n.StartsWith("renamed timm's ConvNeXt keys", StringComparison.Ordinal));
        Assert.Contains("ignored the classifier head (4 tensors, not part of an encoder): head.norm.weight (320), head.norm.bias (320), head.fc.weight (10, 320), head.fc.bias (10)",
            w.Notes);
        var encoder = Backbones.Create("convnext_atto", new ModelOptions { Initialize = false });
        w.LoadInto(encoder);
        foreach (var (k, v) in encoder.StateDict()) Assert.Equal(values[k].ToDoubleArray(), v.ToDoubleArray());
    }

    [Fact]
    public void TheOfficialConvNeXtHeadIsItsNormAndHead()
    {
        var w = EncoderWeights.From(Backbones.Create("convnext_atto", new ModelOptions { Initialize = false, NumClasses = 10 }).StateDict());
        Assert.Equal(["ignored the classifier head (4 tensors, not part of an encoder): norm.weight (320), norm.bias (320), head.weight (10, 320), head.bias (10)"], w.Notes);
        Assert.DoesNotContain(w.Tensors.Keys, k => k.StartsWith("norm.", StringComparison.Ordinal) || k.StartsWith("head.", StringComparison.Ordinal));
    }

    [Fact]
    public void AbsentBnCountersKeepTheModelsAndOtherGapsAreNamed()
    {
        var source = Backbones.Create("resnet18", new ModelOptions { Initialize = false }, smallStem: true);
        var values = Random(source, 6);
        var noCounters = values.Where(kv => !kv.Key.EndsWith("num_batches_tracked", StringComparison.Ordinal)).ToDictionary(kv => kv.Key, kv => kv.Value);
        var target = Backbones.Create("resnet18", new ModelOptions { Initialize = false }, smallStem: true);
        EncoderWeights.From(noCounters).LoadInto(target);                 // torch: a state dict without version metadata may lack them
        Assert.Equal(values["layer4.1.bn2.running_var"].ToDoubleArray(), target.StateDict()["layer4.1.bn2.running_var"].ToDoubleArray());

        noCounters.Remove("layer4.1.bn2.weight");
        noCounters["layer9.weight"] = Tensor.Zeros([2]);
        var e = Assert.Throws<InvalidDataException>(() => EncoderWeights.From(noCounters).LoadInto(target));
        Assert.Contains("missing (1): layer4.1.bn2.weight", e.Message);
        Assert.Contains("not in the model (1): layer9.weight", e.Message);

        var standard = Backbones.Create("resnet18", new ModelOptions { Initialize = false });
        e = Assert.Throws<InvalidDataException>(() => EncoderWeights.From(values).LoadInto(standard));
        Assert.Contains("likely cause: the stem: the file has the small 3x3 stride-1 stem, the model the standard 7x7 stride-2 one", e.Message);
        Assert.Contains("conv1.weight: expected (64, 3, 7, 7), saved (64, 3, 3, 3) (conv1 is the stem: 3x3 small, 7x7 standard)", e.Message);
    }

    [Fact]
    public void TheStemIsReadFromTheHeaderOfAnyWrapping()
    {
        Assert.True(EncoderWeights.SmallStemOf([("module.sparse_encoder.sp_cnn.conv1.weight", [64, 3, 3, 3]), ("module.dense_decoder.conv1.weight", [8, 8, 7, 7])]));
        Assert.False(EncoderWeights.SmallStemOf([("conv1.weight", [64, 3, 7, 7]), ("fc.weight", [1000, 512])]));
        Assert.Null(EncoderWeights.SmallStemOf([("downsample_layers.0.0.weight", [40, 3, 4, 4])]));
    }
}
