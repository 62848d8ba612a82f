using System.Runtime.CompilerServices;

namespace Sparkle.Benchmarks;

internal static class AutogradSetup
{
    /// <summary>Suites mark tensors as requiring grad without an Nn module, in this process or in BenchmarkDotNet's
    /// child processes; the tensor core needs Autograd's recorder installed first (it does not look for it).</summary>
    [ModuleInitializer]
    internal static void Init() => Sparkle.Autograd.AutogradRuntime.Install();
}
