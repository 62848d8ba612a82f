using System.Runtime.CompilerServices;

namespace Sparkle.Tests.Support;

internal static class TestSetup
{
    /// <summary>Every test runs with poisoned uninitialised outputs (see CpuBackend.PoisonUninitialized) and with the
    /// autograd recorder installed.</summary>
    [ModuleInitializer]
    internal static void Init()
    {
        Sparkle.Tensors.Cpu.CpuBackend.PoisonUninitialized = true;
        // Tests mark tensors as requiring grad without an Nn module; the tensor core needs Autograd's recorder.
        Sparkle.Autograd.AutogradRuntime.Install();
    }
}
