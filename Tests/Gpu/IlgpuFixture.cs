using Sparkle.Gpu;
using Sparkle.Tensors;
using Xunit;

namespace Sparkle.Tests.Gpu;

/// <summary>One ILGPU CPU-simulator context and accelerator for every GPU test (GPU.md: only one kernel runs at a
/// time per CPU accelerator, and each kernel compiles once per accelerator, so sharing is what keeps it fast).</summary>
public sealed class IlgpuFixture : IDisposable
{
    public IlgpuFixture() { Backend = IlgpuBackend.Create(DeviceKind.IlgpuCpu, 0); }
    public IlgpuBackend Backend { get; }
    public Device Device => Backend.Device;
    public void Dispose() => Backend.Dispose();
}

[CollectionDefinition(Name)]
public sealed class IlgpuCollection : ICollectionFixture<IlgpuFixture>
{
    public const string Name = "ILGPU CPU accelerator";
}
