namespace Sparkle.Tensors.Autograd;

/// <summary>
/// Where the tensor core meets Sparkle.Autograd (PyTorch's "autograd dispatch key", in one static class).
/// Every differentiable op funnels through a check <c>GradHook.Wants(inputs)</c>; when it is true the op
/// computes its raw result with recording paused and hands it to <see cref="Recorder"/>, which attaches
/// the graph node. The gradient rules and the engine live in Sparkle.Autograd; this assembly only knows
/// the interface. Recording is per thread (like torch's grad mode).
/// </summary>
internal static class GradHook
{
    /// <summary>Installed by Sparkle.Autograd when its assembly loads (AutogradRuntime, a module initializer).</summary>
    internal static IGradRecorder? Recorder;

    [ThreadStatic] private static bool t_disabled;

    /// <summary>False inside a no-grad scope (and while an op computes its raw forward or a backward runs).</summary>
    internal static bool IsEnabled => !t_disabled;

    /// <summary>Sets grad mode for this thread and returns the previous mode (scopes restore it).</summary>
    internal static bool SetEnabled(bool enabled)
    {
        bool previous = !t_disabled;
        t_disabled = !enabled;
        return previous;
    }

    internal static bool Wants(Tensor a) => !t_disabled && a.RequiresGrad;
    internal static bool Wants(Tensor a, Tensor b) => !t_disabled && (a.RequiresGrad || b.RequiresGrad);

    internal static bool Wants(IReadOnlyList<Tensor> tensors)
    {
        if (t_disabled) return false;
        foreach (var t in tensors) if (t.RequiresGrad) return true;
        return false;
    }

    /// <summary>Pauses recording for the raw forward of an op that records itself as one node.</summary>
    internal static PauseScope Pause() => new(SetEnabled(false));

    internal readonly struct PauseScope(bool previous) : IDisposable
    {
        public void Dispose() => SetEnabled(previous);
    }

    /// <summary>The recorder, or a clear error when Sparkle.Autograd has not installed it. A tensor can only start
    /// requiring grad through here, so no op that should record can run before the recorder exists. The tensor core
    /// does not look for Autograd itself (no reflection up the stack): Autograd installs the recorder when its
    /// assembly loads, and the projects that make tensors require grad (Nn's parameters, the tests) name it.</summary>
    internal static IGradRecorder EnsureRecorder() => Recorder ?? throw new InvalidOperationException(
        "RequiresGrad needs Sparkle.Autograd, which is not loaded: reference the Sparkle.Autograd project or package and call " +
        "Sparkle.Autograd.AutogradRuntime.Install() once at start-up (Sparkle.Nn's modules do it for their parameters).");
}
