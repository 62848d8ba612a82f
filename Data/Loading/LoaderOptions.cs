namespace Sparkle.Data;

/// <summary>What happens to the last, incomplete batch of an epoch.</summary>
public enum LastBatch
{
    /// <summary>SparK's sampler (SPARK.md §5.5, filling=True): iterations = ceil(N / B) and the epoch's permutation is
    /// padded with its own first entries, so every batch is full.</summary>
    Fill,

    /// <summary>drop_last: iterations = floor(N / B).</summary>
    Drop,

    /// <summary>iterations = ceil(N / B); the last batch is smaller.</summary>
    Keep,
}

/// <summary>Settings of a <see cref="DataLoader"/>.</summary>
public sealed record LoaderOptions
{
    public int BatchSize { get; init; } = 32;

    /// <summary>Run seed. Epoch e is shuffled by Randperm with a Generator seeded Seed + e (SparK: seed 1); sample at
    /// position p of epoch e is augmented with <see cref="SampleRandom"/>(Seed, e, p).</summary>
    public ulong Seed { get; init; } = 1;

    public bool Shuffle { get; init; } = true;
    public LastBatch LastBatch { get; init; } = LastBatch.Fill;

    /// <summary>Background threads that load and transform batches; 0 makes batches on the caller's thread.
    /// The batches do not depend on it.</summary>
    public int Workers { get; init; } = Math.Max(1, Math.Min(4, Environment.ProcessorCount - 1));

    /// <summary>Data-parallel sampling (SPARK.md §5.5, DistInfiniteBatchSampler): with <see cref="WorldSize"/> N &gt; 1,
    /// <see cref="BatchSize"/> is the global batch; each epoch's (filled) order is split into N contiguous chunks and this
    /// loader yields chunk <see cref="Rank"/> in batches of BatchSize / N. N = 1 is the single-process loader.</summary>
    public int Rank { get; init; }
    public int WorldSize { get; init; } = 1;

    /// <summary>How many batches may be ready or in preparation ahead of the consumer (at least 1).</summary>
    public int Prefetch { get; init; } = 4;
}
