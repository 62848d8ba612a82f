using Sparkle.Gpu;
using Sparkle.Tensors;
using Xunit;

namespace Sparkle.Tests.Gpu;

/// <summary>What this slice does not implement fails loudly with the op's name; device selection never falls back.</summary>
[Collection(IlgpuCollection.Name)]
public class GpuUnsupportedTests(IlgpuFixture gpu)
{
    [Fact]
    public void MissingOpsThrowNotSupportedNamingTheOp()
    {
        var x = Tensor.Ones([2, 3]).To(gpu.Device);
        var idx = Tensor.FromArray(new long[] { 1, 0 }).To(gpu.Device);
        var cases = new (string Op, Action Run)[]
        {
            ("Reduce", () => x.Sum()), ("ArgReduce", () => x.ArgMax(1)), ("MatMul", () => x.MatMul(x.T)),
            ("IndexSelect", () => x.IndexSelect(0, idx)),
        };
        foreach (var (op, run) in cases)
        {
            var e = Assert.Throws<NotSupportedException>(run);
            Assert.Contains(op, e.Message);
            Assert.Contains("ILGPU backend", e.Message);
        }
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
