using Sparkle.Tensors.Autograd;

namespace Sparkle.Autograd;

/// <summary>
/// Grad mode of the current thread (torch.no_grad / torch.enable_grad). While disabled, ops do not record
/// and their results do not require grad. Scopes nest and restore the previous mode when disposed:
/// <code>using (GradMode.NoGrad()) { ... }</code>
/// </summary>
public static class GradMode
{
    public static bool IsEnabled => GradHook.IsEnabled;

    /// <summary>Stops recording until the scope is disposed (evaluation, optimizer steps, weight init).</summary>
    public static Scope NoGrad() => new(GradHook.SetEnabled(false));

    /// <summary>Records again inside a <see cref="NoGrad"/> scope until disposed.</summary>
    public static Scope EnableGrad() => new(GradHook.SetEnabled(true));

    public readonly struct Scope : IDisposable
    {
        private readonly bool _previous;
        internal Scope(bool previous) => _previous = previous;
        public void Dispose() => GradHook.SetEnabled(_previous);
    }
}
