namespace Sparkle.Sparse;

/// <summary>
/// Switches the sparse layers of the current thread to the masked-dense oracle (the official algorithm: dense conv then
/// multiply by the mask; BN with masked statistics) for as long as the scope lives. Whole-model equivalence tests run the
/// same converted model both ways; benchmarks time both paths from one model.
/// <code>using (SparseMode.Oracle()) loss = spark.Loss(images, mask);</code>
/// </summary>
public static class SparseMode
{
    [ThreadStatic] private static bool t_oracle;

    public static bool UseOracle => t_oracle;

    public static Scope Oracle() => new(Set(true));

    private static bool Set(bool value)
    {
        bool previous = t_oracle;
        t_oracle = value;
        return previous;
    }

    public readonly struct Scope : IDisposable
    {
        private readonly bool _previous;
        internal Scope(bool previous) => _previous = previous;
        public void Dispose() => Set(_previous);
    }
}
