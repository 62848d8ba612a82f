using Sparkle.Models;
using Sparkle.Models.Spark;
using Sparkle.Sparse;
using Sparkle.Tensors;
using Xunit;

namespace Sparkle.Tests.Models;

/// <summary>
/// Issue 6's whole-model check: the sparse SparK forward+backward equals the same model run with the masked-dense oracle
/// (the official algorithm) — loss and every parameter gradient to 1e-4 relative — for a ResNet and a ConvNeXt. In float64
/// (SPARK.md §8.25: float32 ReLU ties near 0 make whole-model float32 comparisons fragile).
/// </summary>
public class SparkEquivalenceTests
{
    public static TheoryData<string> Encoders() => ["resnet18-small", "convnext_atto"];

    [Theory]
    [MemberData(nameof(Encoders))]
    public void SparseStepEqualsTheMaskedDenseOracle(string name)
    {
        var o = new ModelOptions { DType = DType.Float64, Generator = new Generator(1) };
        IHierarchicalEncoder encoder = name == "resnet18-small" ? ResNet.ResNet18(o, smallStem: true) : ConvNeXt.Atto(o);
        int size = name == "resnet18-small" ? 32 : 64;
        var spark = new SparkModel(encoder, size, decoderWidth: 32, densifyNorm: name.StartsWith("resnet") ? DensifyNorm.BatchNorm : DensifyNorm.LayerNorm,
            dtype: DType.Float64, generator: new Generator(2));
        var images = Tensor.Randn([3, 3, size, size], new Generator(3), DType.Float64);
        var active = spark.SampleMask(3, new Generator(4));

        var sparseLoss = spark.Loss(images, active);
        sparseLoss.Backward();
        var sparseGrads = spark.NamedParameters().ToDictionary(p => p.Name, p => p.Parameter.Grad?.ToDoubleArray());
        spark.ZeroGrad();

        Tensor oracleLoss;
        using (SparseMode.Oracle()) oracleLoss = spark.Loss(images, active);
        oracleLoss.Backward();

        Assert.Equal(oracleLoss.Item(), sparseLoss.Item(), 1e-10);
        foreach (var (pname, p) in spark.NamedParameters())
        {
            var expected = p.Grad?.ToDoubleArray();
            var actual = sparseGrads[pname];
            Assert.True((expected is null) == (actual is null), $"{pname}: gradient present in one run only");
            if (expected is null) continue;
            double maxDiff = 0, maxRef = 1e-12;
            for (int i = 0; i < expected.Length; i++)
            {
                maxDiff = Math.Max(maxDiff, Math.Abs(expected[i] - actual![i]));
                maxRef = Math.Max(maxRef, Math.Abs(expected[i]));
            }
            Assert.True(maxDiff <= 1e-4 * maxRef, $"{pname}: gradients differ by {maxDiff:E2} (largest {maxRef:E2})");
        }
    }
}
