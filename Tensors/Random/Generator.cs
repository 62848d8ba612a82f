namespace Sparkle.Tensors;

/// <summary>What a <see cref="Generator"/> needs to resume its stream exactly (for checkpoints).</summary>
public readonly record struct GeneratorState(ulong Seed, ulong Offset);

/// <summary>
/// A seeded random stream (DESIGN.md §2.8). The stream is Philox4x32-10 keyed by <see cref="Seed"/>;
/// the generator only holds a 64-bit offset: a draw of n elements uses counters [Offset, Offset + n)
/// and advances Offset by n. The numbers themselves are computed by the backend (docs/random.md), so
/// they do not depend on thread count or device. Thread-safe: concurrent draws get disjoint counters.
/// </summary>
public sealed class Generator
{
    /// <summary>Seed of <see cref="Default"/> at process start (the same every run, for reproducibility;
    /// the value is PyTorch's default seed).</summary>
    public const ulong DefaultSeed = 67280421310721;

    private readonly object _gate = new();
    private ulong _seed;
    private ulong _offset;

    public Generator(ulong seed) { _seed = seed; }

    /// <summary>The process-wide generator used when a factory gets no generator.</summary>
    public static Generator Default { get; } = new(DefaultSeed);

    public ulong Seed { get { lock (_gate) return _seed; } }

    /// <summary>Number of counters consumed since the last (re)seed.</summary>
    public ulong Offset { get { lock (_gate) return _offset; } }

    /// <summary>Restarts the stream from <paramref name="seed"/> (offset 0). Returns this generator.</summary>
    public Generator ManualSeed(ulong seed)
    {
        lock (_gate) { _seed = seed; _offset = 0; }
        return this;
    }

    public GeneratorState GetState() { lock (_gate) return new GeneratorState(_seed, _offset); }

    public void SetState(GeneratorState state) { lock (_gate) { _seed = state.Seed; _offset = state.Offset; } }

    /// <summary>Reserves <paramref name="count"/> counters; returns the seed and the first counter to use.
    /// The 64-bit offset wraps around (after 2^64 elements, far beyond any run).</summary>
    public GeneratorState Advance(ulong count)
    {
        lock (_gate)
        {
            var s = new GeneratorState(_seed, _offset);
            _offset = unchecked(_offset + count);
            return s;
        }
    }

    public override string ToString() => $"Generator(seed={Seed}, offset={Offset})";
}
