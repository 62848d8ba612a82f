using System.Diagnostics;
using Sparkle.Models;
using Sparkle.Models.Spark;
using Sparkle.Nn;
using Sparkle.Tensors;
using Sparkle.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace Sparkle.Tests.Gpu;

/// <summary>Issue 8's check: a SparK training step of a small ResNet runs end to end on the ILGPU CPU accelerator and
/// gives the CPU backend's loss and gradients (the device runs the masked-dense algorithm with seam-primitive convs; the
/// CPU runs the sparse kernels; the two are equal by the equivalence tests).</summary>
/// <remarks>
/// Slow (about 4 minutes: the ILGPU CPU accelerator simulates every thread group, and the seam convolution launches many
/// small kernels), so it carries the Slow trait that the CI command filters out; run it with
/// <c>dotnet test -c Release --filter Category=Slow</c>.</remarks>
[Collection(IlgpuCollection.Name)]
[Trait("Category", "Slow")]
public class GpuSparkStepTests(IlgpuFixture gpu, ITestOutputHelper output)
{
    [Fact]
    public void SparkStepAgreesWithTheCpu()
    {
        SparkModel Build() => new(new ResNet(new ResNetConfig([1, 1, 1, 1], Bottleneck: false, SmallStem: true),
            new ModelOptions { Generator = new Generator(1) }), 16, decoderWidth: 8, generator: new Generator(2));
        var cpu = Build();
        var dev = Build();
        dev.To(gpu.Device);
        foreach (var (_, p) in dev.NamedParameters()) Assert.Equal(gpu.Device, p.Device);

        var images = Tensor.Randn([2, 3, 16, 16], new Generator(3));
        var active = cpu.SampleMask(2, new Generator(4));
        var sw = Stopwatch.StartNew();
        long reads = gpu.Backend.HostReads;
        var lossDev = dev.Loss(images.To(gpu.Device), active);
        output.WriteLine($"device forward: {sw.ElapsedMilliseconds} ms");
        lossDev.Backward();
        output.WriteLine($"device step: {sw.ElapsedMilliseconds} ms, {gpu.Backend.HostReads - reads} host reads, {gpu.Backend.MemoryStats}");
        var lossCpu = cpu.Loss(images, active);
        lossCpu.Backward();

        Check.Close(lossCpu.ToDoubleArray(), lossDev.To(Device.Cpu), 1e-4, 1e-6, "loss");
        var devParams = dev.NamedParameters().ToDictionary(p => p.Name, p => p.Parameter);
        foreach (var (name, p) in cpu.NamedParameters())
        {
            var expected = p.Grad!.ToDoubleArray();
            var actual = devParams[name].Grad!.To(Device.Cpu).ToDoubleArray();
            double maxDiff = 0, maxRef = 1e-6;
            for (int i = 0; i < expected.Length; i++)
            {
                maxDiff = Math.Max(maxDiff, Math.Abs(expected[i] - actual[i]));
                maxRef = Math.Max(maxRef, Math.Abs(expected[i]));
            }
            Assert.True(maxDiff <= 1e-3 * maxRef, $"{name}: device gradient differs by {maxDiff:E2} (largest {maxRef:E2})");
        }
    }
}
