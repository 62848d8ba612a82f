using Sparkle.Tensors;
using Xunit;

namespace Sparkle.Tests.Gpu;

/// <summary>docs/random.md on the device: the same seed gives the same numbers as the CPU, bit for bit for
/// uniform, bernoulli and randint, to a few ulp for normals.</summary>
[Collection(IlgpuCollection.Name)]
public class GpuRandomTests(IlgpuFixture gpu)
{
    private static Generator G() => new Generator(0x1234_5678_9abc_def0).ManualSeed(0x1234_5678_9abc_def0);

    [Fact]
    public void UniformBernoulliAndRandintMatchBitForBit()
    {
        int[] shape = [7, 33];
        foreach (var dt in new[] { DType.Float32, DType.Float64 })
        {
            GpuGen.Agree(Tensor.Uniform(shape, -3, 5, G(), dt), Tensor.Uniform(shape, -3, 5, G(), dt, gpu.Device), gpu.Device, what: "uniform");
            GpuGen.Agree(Tensor.Rand(shape, G(), dt), Tensor.Rand(shape, G(), dt, gpu.Device), gpu.Device, what: "rand");
        }
        foreach (var dt in Enum.GetValues<DType>())
            GpuGen.Agree(Tensor.Bernoulli(shape, 0.3, G(), dt), Tensor.Bernoulli(shape, 0.3, G(), dt, gpu.Device), gpu.Device, what: $"bernoulli {dt}");
        foreach (var dt in new[] { DType.Int32, DType.Int64, DType.Float32, DType.Float64 })
            GpuGen.Agree(Tensor.Randint(-7, 1000, shape, G(), dt), Tensor.Randint(-7, 1000, shape, G(), dt, gpu.Device), gpu.Device, what: $"randint {dt}");
        GpuGen.Agree(Tensor.Randint(0, 1L << 40, shape, G()), Tensor.Randint(0, 1L << 40, shape, G(), device: gpu.Device), gpu.Device, what: "randint wide");
    }

    [Fact]
    public void OffsetsContinueTheStream()
    {
        var gc = G();
        var gd = G();
        Tensor.Rand([100], gc);
        Tensor.Rand([100], gd, device: gpu.Device);
        GpuGen.Agree(Tensor.Rand([50], gc, DType.Float64), Tensor.Rand([50], gd, DType.Float64, gpu.Device), gpu.Device, what: "second draw");
        Assert.Equal(gc.Offset, gd.Offset);
    }

    [Fact]
    public void NormalsMatchToAFewUlpAndTruncatedNormalExactly()
    {
        int[] shape = [9, 31];
        GpuGen.Agree(Tensor.Normal(shape, 0.5, 2, G(), DType.Float64), Tensor.Normal(shape, 0.5, 2, G(), DType.Float64, gpu.Device), gpu.Device, 1e-13, 1e-13, "normal f64");
        GpuGen.Agree(Tensor.Normal(shape, 0.5, 2, G()), Tensor.Normal(shape, 0.5, 2, G(), device: gpu.Device), gpu.Device, 3e-7, 1e-7, "normal f32");
        GpuGen.Agree(Tensor.TruncNormal(shape, 0, 1, -2, 2, G()), Tensor.TruncNormal(shape, 0, 1, -2, 2, G(), device: gpu.Device), gpu.Device, what: "trunc normal");
    }
}
