using Sparkle.Tensors;

namespace Sparkle.Nn.Parallel;

/// <summary>
/// The data-parallel pieces every trainer shares (pre-training, fine-tuning, linear probing; docs/distributed.md):
/// the global batch split by rank (with the launch error when it does not divide), the model's parameters and buffers
/// broadcast from rank 0, the loss averaged over the ranks (so a NaN stops every rank at the same step), the bucketed
/// gradient average (started while the backward runs, finished after it), per-rank random streams, and the
/// same-world-size rule for resuming. With a
/// group of one process every call is an identity, so single-process training is unchanged.
/// </summary>
public sealed class DataParallel
{
    private readonly GradientAllReduce? _gradients;

    /// <param name="group">The ranks (null: one process).</param>
    /// <param name="model">Replicated: its state is broadcast from rank 0 now.</param>
    /// <param name="globalBatch">The global batch, split evenly among the ranks.</param>
    /// <param name="parameters">The trained parameters whose gradients are averaged (default: all of the model's).</param>
    /// <param name="bucketBytes">The gradient all-reduce's bucket size.</param>
    public DataParallel(ICommunicator? group, Module model, int globalBatch, IEnumerable<Tensor>? parameters = null, int bucketBytes = 8 << 20)
    {
        Group = group ?? LocalCommunicator.Instance;
        if (globalBatch % Group.Size != 0)
            throw new ArgumentException($"The global batch size {globalBatch} is not divisible by the {Group.Size} ranks: choose a multiple of {Group.Size}.");
        LocalBatchSize = globalBatch / Group.Size;
        if (Group.Size > 1)
        {
            Group.BroadcastState(model);
            _gradients = new GradientAllReduce(Group, parameters ?? model.Parameters(), bucketBytes);
        }
    }

    public ICommunicator Group { get; }

    /// <summary>The rank's part of the global batch.</summary>
    public int LocalBatchSize { get; }

    /// <summary>Start each gradient bucket's all-reduce during the backward (<see cref="GradientAllReduce.Overlap"/>;
    /// the default). Off: all of it after the backward, synchronously. The sums are the same either way.</summary>
    public bool OverlapGradients { get; set; } = true;

    /// <summary>Seconds of the last gradient all-reduce, inside the backward and after it (0 in one process).</summary>
    public double LastAllReduceSeconds => _gradients?.LastSeconds ?? 0;

    /// <summary>Seconds the last step waited for the gradient all-reduce after its backward: the part the backward did
    /// not hide (all of it without the overlap; 0 in one process).</summary>
    public double LastAllReduceExposedSeconds => _gradients?.LastExposedSeconds ?? 0;

    /// <summary>The gradient all-reduce (null in one process), for its statistics.</summary>
    public GradientAllReduce? Gradients => _gradients;

    /// <summary>Wrap the backward in it: the gradient buckets start as the backward finishes them (nothing without a
    /// group or with <see cref="OverlapGradients"/> off). <see cref="AverageGradients"/> after it completes them.</summary>
    public Sparkle.Autograd.BackwardObserver.Scope BackwardScope()
        => _gradients is not null && OverlapGradients ? _gradients.Overlap() : Sparkle.Autograd.BackwardObserver.Use(Sparkle.Autograd.BackwardObserver.Current);

    /// <summary>The mean of the ranks' losses: the same value on every rank.</summary>
    public double MeanLoss(double localLoss) => Group.Mean(localLoss);

    /// <summary>Averages the gradients over the ranks (after the backward, before clipping and the step): waits for the
    /// buckets the backward started inside <see cref="BackwardScope"/>, or does it all now.</summary>
    public void AverageGradients() => _gradients?.Run();

    /// <summary>Rank r's generator seed: the run seed itself for rank 0 (so one rank is the single-process run), a
    /// distinct, fixed stream for the others.</summary>
    public static ulong RankSeed(ulong seed, int rank) => rank == 0 ? seed : unchecked(seed + 0x9E3779B97F4A7C15UL * (ulong)rank);

    /// <summary>The checkpoint metadata key of the world size that wrote it (absent: one process).</summary>
    public const string WorldSizeKey = "world_size";

    /// <summary>The world size a checkpoint's metadata records (1 when it records none: a single-process run); null
    /// when the value is not a positive number.</summary>
    public static int? SavedWorldSize(IReadOnlyDictionary<string, string> metadata) =>
        !metadata.TryGetValue(WorldSizeKey, out var w) ? 1
        : int.TryParse(w, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int n) && n > 0 ? n : null;

    /// <summary>Why a checkpoint of <paramref name="savedWorldSize"/> ranks cannot resume on <paramref name="worldSize"/>
    /// (null: it can). The sampler splits each epoch by rank, so only the same N resumes exactly.</summary>
    public static string? ResumedWorldSizeError(int savedWorldSize, int worldSize, string path) => savedWorldSize == worldSize ? null
        : $"{path}: written by a run of {savedWorldSize} rank(s), this one has {worldSize}: an exact resume needs the same number of ranks (the sampler splits each epoch by rank).";

    /// <summary>Refuses a checkpoint of another world size (<see cref="ResumedWorldSizeError"/>). The CLI refuses it
    /// earlier, at launch (docs/distributed.md); this is the check for every other caller.</summary>
    public void CheckResumedWorldSize(int savedWorldSize, string path)
    {
        if (ResumedWorldSizeError(savedWorldSize, Group.Size, path) is { } error) throw new InvalidDataException(error);
    }
}
