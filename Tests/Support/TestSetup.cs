using System.Runtime.CompilerServices;

namespace Sparkle.Tests.Support;

internal static class TestSetup
{
    /// <summary>Every test runs with poisoned uninitialised outputs (see CpuBackend.PoisonUninitialized).</summary>
    [ModuleInitializer]
    internal static void Init() => Sparkle.Tensors.Cpu.CpuBackend.PoisonUninitialized = true;
}
