using Sparkle.Gpu;
using Sparkle.Tensors;
using Xunit;

namespace Sparkle.Tests.Gpu;

/// <summary>Errors: bad indices are reported like the CPU does, device selection never falls back, devices never mix.</summary>
[Collection(IlgpuCollection.Name)]
public class GpuErrorTests(IlgpuFixture gpu)
{
    [Fact]
    public void OutOfRangeIndicesThrowBeforeAnyWriteWithEagerChecks()
    {
        var x = Tensor.Ones([2, 3]).To(gpu.Device);
        var bad = Tensor.FromArray(new long[] { 1, 3 }).To(gpu.Device);
        gpu.Backend.EagerIndexChecks = true;
        try
        {
            var e = Assert.Throws<IndexOutOfRangeException>(() => x.IndexSelect(1, bad));
            Assert.Contains("index 3 is out of bounds", e.Message);
            var dst = Tensor.Zeros([2, 3], device: gpu.Device);
            Assert.Throws<IndexOutOfRangeException>(() => dst.ScatterAdd_(1, Tensor.FromArray(new long[] { 0, 5, 0, 0, 0, 0 }, [2, 3]).To(gpu.Device), x));
            Assert.All(dst.ToArray<float>(), v => Assert.Equal(0f, v));
        }
        finally { gpu.Backend.EagerIndexChecks = false; }
    }

    [Fact]
    public void OutOfRangeIndicesAreReportedAtTheNextHostReadByDefault()
    {
        var x = Tensor.Ones([2, 3]).To(gpu.Device);
        var dst = Tensor.Zeros([2, 3], device: gpu.Device);
        dst.ScatterAdd_(1, Tensor.FromArray(new long[] { 0, -1, 0, 0, 0, 0 }, [2, 3]).To(gpu.Device), x);   // no throw, no sync
        var e = Assert.Throws<IndexOutOfRangeException>(() => gpu.Backend.Synchronize());
        Assert.Contains("ScatterAdd: index -1 is out of bounds for dim 1 with size 3", e.Message);
        Assert.Equal(new float[] { 2, 0, 0, 3, 0, 0 }, dst.ToArray<float>());   // the good indices were applied; -1 skipped
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
