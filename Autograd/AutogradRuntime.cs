using System.Runtime.CompilerServices;
using Sparkle.Tensors.Autograd;

namespace Sparkle.Autograd;

/// <summary>
/// Connects the tensor core to this assembly. The arrow points down the stack: Sparkle.Tensors knows only the
/// <see cref="IGradRecorder"/> interface and never looks for Autograd by name; this assembly installs its recorder
/// the moment it loads (a module initializer runs before any of its code). .NET loads an assembly only when code that
/// names one of its types runs, so a project that makes tensors require grad calls <see cref="Install"/> once (Nn does
/// it when it registers a parameter); any other use of Autograd (GradMode, Differentiable, GradCheck) loads it too.
/// </summary>
public static class AutogradRuntime
{
    /// <summary>Makes sure the recorder is installed; cheap and idempotent. Without it, setting
    /// Tensor.RequiresGrad before anything from Sparkle.Autograd has run throws a clear error.</summary>
    public static void Install() => GradHook.Recorder ??= new Recorder();

    // CA2255 warns libraries off module initializers because they run code at load time; that is the point here:
    // the recorder must exist before any tensor of this process can require grad, and installing it is one store.
#pragma warning disable CA2255
    [ModuleInitializer]
    internal static void OnLoad() => Install();
#pragma warning restore CA2255
}
