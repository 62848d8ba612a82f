using Sparkle.Gpu;
using Sparkle.Tensors;
using Xunit;

namespace Sparkle.Tests.Gpu;

/// <summary>Errors: bad indices are reported like the CPU does, device selection never falls back, devices never mix.</summary>
[Collection(IlgpuCollection.Name)]
public class GpuErrorTests(IlgpuFixture gpu)
{
    [Fact]
    public void OutOfRangeIndicesThrowBeforeAnyWrite()
    {
        var x = Tensor.Ones([2, 3]).To(gpu.Device);
        var bad = Tensor.FromArray(new long[] { 1, 3 }).To(gpu.Device);
        var e = Assert.Throws<IndexOutOfRangeException>(() => x.IndexSelect(1, bad));
        Assert.Contains("index 3 is out of bounds", e.Message);
    }

    [Fact]
    public void AMissingDeviceIsAnErrorNotAFallback()
    {
        var e = Assert.Throws<InvalidOperationException>(() => IlgpuBackend.Create(DeviceKind.IlgpuCpu, 7));
        Assert.Contains("IlgpuCpu", e.Message);
        Assert.Throws<ArgumentException>(() => IlgpuBackend.Create(DeviceKind.Cpu));
    }

    [Fact]
    public void MixingDevicesIsAnError()
    {
        var a = Tensor.Ones([2]);
        Assert.Throws<InvalidOperationException>(() => a + a.To(gpu.Device));
    }
}
