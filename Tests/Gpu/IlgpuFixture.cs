using Sparkle.Gpu;
using Sparkle.Tensors;
using Xunit;

namespace Sparkle.Tests.Gpu;

/// <summary>One ILGPU CPU-simulator context and accelerator for every GPU test (GPU.md: only one kernel runs at a
/// time per CPU accelerator, and each kernel compiles once per accelerator, so sharing is what keeps it fast).
/// Every storage allocated without zeroing is poisoned (0xFF bytes), as on the CPU backend: CUDA never hands out zeroed
/// memory, so a kernel that reads before it writes must fail here too.</summary>
public sealed class IlgpuFixture : IDisposable
{
    public IlgpuFixture()
    {
        Backend = IlgpuBackend.Create(DeviceKind.IlgpuCpu, 0);
        Backend.PoisonUninitialized = true;
    }
    public IlgpuBackend Backend { get; }
    public Device Device => Backend.Device;
    public void Dispose() => Backend.Dispose();
}

[CollectionDefinition(Name)]
public sealed class IlgpuCollection : ICollectionFixture<IlgpuFixture>
{
    public const string Name = "ILGPU CPU accelerator";
}
