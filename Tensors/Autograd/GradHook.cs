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
    /// <summary>Installed by Sparkle.Autograd (its Recorder's static constructor).</summary>
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

    /// <summary>The recorder, loading Sparkle.Autograd on first use: a tensor can only start requiring
    /// grad through here, so no op that should record can run before the recorder exists.</summary>
    internal static IGradRecorder EnsureRecorder()
    {
        if (Recorder is not null) return Recorder;
        var type = Type.GetType("Sparkle.Autograd.Recorder, Sparkle.Autograd", throwOnError: false);
        if (type is not null) System.Runtime.CompilerServices.RuntimeHelpers.RunClassConstructor(type.TypeHandle);
        return Recorder ?? throw new InvalidOperationException(
            "RequiresGrad needs the Sparkle.Autograd assembly (reference the Sparkle.Autograd project or package); it was not found.");
    }
}
