using System.Globalization;
using Sparkle.Models.Spark;
using Sparkle.Nn;
using Sparkle.Nn.Layers;
using Sparkle.Nn.Optim;
using Sparkle.Nn.Parallel;
using Sparkle.Tensors;

namespace Sparkle.Models.Training;

/// <summary>SparK pre-training hyper-parameters (SPARK.md §5.1 defaults; batch is the global batch).</summary>
public sealed record PretrainOptions
{
    public int Epochs { get; init; } = 1600;
    public double WarmupEpochs { get; init; } = 40;
    public int BatchSize { get; init; } = 4096;
    /// <summary>lr = BaseLr · BatchSize / 256.</summary>
    public double BaseLr { get; init; } = 2e-4;
    public double WeightDecay { get; init; } = 0.04;
    /// <summary>Final weight decay of the cosine increase (0: same as WeightDecay).</summary>
    public double WeightDecayEnd { get; init; } = 0.2;
    /// <summary>lamb, adamw or sgd.</summary>
    public string Optimizer { get; init; } = "lamb";
    /// <summary>LAMB/AdamW β2 (SparK: 0.95 for ResNets, 0.999 for ConvNeXts).</summary>
    public double Beta2 { get; init; } = 0.95;
    /// <summary>Global gradient-norm clip (inside LAMB; applied before the step for the others). 0 disables.</summary>
    public double Clip { get; init; } = 5;
    public ulong Seed { get; init; } = 1;
    /// <summary>With a group of more than one rank: synchronise every BN's batch statistics over the group (SPARK.md
    /// §5.6 sbn=True). A single process never syncs.</summary>
    public bool SyncBatchNorm { get; init; } = true;
    /// <summary>With a group: the size of a gradient all-reduce bucket (DDP's bucket_cap_mb). Smaller buckets start
    /// earlier in the backward but cost more calls.</summary>
    public int AllReduceBucketBytes { get; init; } = 8 << 20;
}

/// <summary>Thrown when a step's loss is NaN or infinite: the run stops and the last good checkpoint stays.</summary>
public sealed class NonFiniteLossException(long iteration, double loss)
    : Exception(string.Create(CultureInfo.InvariantCulture,   // the message goes into log.jsonl: "Infinity", not "∞"
        $"The loss became {loss} at iteration {iteration}; training stopped. The last checkpoint written before it is intact."))
{
    public long Iteration { get; } = iteration;
}

/// <summary>
/// The SparK pre-training step loop (SPARK.md §5): per iteration, set lr/wd from the schedule, sample the masks, forward,
/// backward, optimizer step (LAMB clips inside). All randomness (masks, drop path) comes from one seeded Generator whose
/// state is part of the checkpoint, so an interrupted and resumed run reproduces the uninterrupted one exactly.
/// Data parallel (<see cref="Group"/> of N ranks, SPARK.md §5.6): each rank steps on its own part of the global batch
/// with its own masks (rank r's generator is seeded from (seed, r); rank 0's is the single-process one); parameters
/// and buffers start from rank 0's; BNs synchronise their statistics; gradients are averaged by a bucketed all-reduce
/// whose buckets start while the backward runs; every rank then makes the same optimizer step, so the replicas stay identical. The loss a step
/// returns is the mean over the ranks (the same value everywhere, so a NaN stops every rank at the same step).
/// </summary>
public sealed class Pretrainer
{
    private readonly Generator _rng;

    public Pretrainer(SparkModel model, PretrainOptions options, long itersPerEpoch, ICommunicator? group = null)
    {
        Model = model;
        Options = options;
        ItersPerEpoch = itersPerEpoch;
        _parallel = new DataParallel(group, model, options.BatchSize, bucketBytes: options.AllReduceBucketBytes);
        _rng = new Generator(RankSeed(options.Seed, Group.Rank));
        foreach (var (_, m) in model.NamedModules())
        {
            if (m is DropPath dp) dp.Generator = _rng;
            if (m is Dropout d) d.Generator = _rng;
        }
        double peak = LrWdSchedule.ScaledLr(options.BaseLr, options.BatchSize);
        Schedule = LrWdSchedule.FromEpochs(peak, options.WeightDecay, options.WeightDecayEnd, options.Epochs, options.WarmupEpochs, itersPerEpoch);
        var groups = ParamGroups.Split(model);
        Optimizer = options.Optimizer switch
        {
            "lamb" => new Lamb(groups, peak, beta2: options.Beta2, maxGradNorm: options.Clip > 0 ? options.Clip : null),
            "adamw" => new AdamW(groups, peak, beta2: options.Beta2, weightDecay: 0),
            "sgd" => new Sgd(groups, peak, momentum: 0.9, nesterov: true),
            _ => throw new ArgumentException($"Unknown optimizer '{options.Optimizer}' (lamb, adamw or sgd)."),
        };
    }

    /// <summary>Rank r's generator seed: the run seed itself for rank 0 (so one rank is the single-process run), a
    /// distinct, fixed stream for the others.</summary>
    public static ulong RankSeed(ulong seed, int rank) => DataParallel.RankSeed(seed, rank);

    /// <summary>The data-parallel group (a <see cref="LocalCommunicator"/> for one process).</summary>
    public ICommunicator Group => _parallel.Group;

    /// <summary>The rank's part of the global batch.</summary>
    public int LocalBatchSize => _parallel.LocalBatchSize;

    /// <summary>Seconds of the last step's gradient all-reduce and of its backward (0 in one process): the cost of
    /// data parallelism per step, for logs and docs/distributed.md. The all-reduce starts inside the backward
    /// (<see cref="OverlapAllReduce"/>), so part of it is in the backward's seconds; <see cref="LastAllReduceExposedSeconds"/>
    /// is the part the step waited for after the backward.</summary>
    public double LastAllReduceSeconds => _parallel.LastAllReduceSeconds;
    public double LastAllReduceExposedSeconds => _parallel.LastAllReduceExposedSeconds;

    /// <summary>Start the gradient all-reduce during the backward (default); off: after it, synchronously. Same sums.</summary>
    public bool OverlapAllReduce { get => _parallel.OverlapGradients; set => _parallel.OverlapGradients = value; }

    /// <summary>The gradient all-reduce of a distributed run (null in one process), for its statistics.</summary>
    public GradientAllReduce? GradientAllReduce => _parallel.Gradients;
    public double LastBackwardSeconds { get; private set; }

    private readonly DataParallel _parallel;

    public SparkModel Model { get; }
    public PretrainOptions Options { get; }
    public long ItersPerEpoch { get; }
    public LrWdSchedule Schedule { get; }
    public Optimizer Optimizer { get; }

    /// <summary>Recycles the arrays of each step's dead activations and gradients in the next (docs/tensors.md). Null turns
    /// it off (benchmarks compare with and without).</summary>
    public TensorPool? Pool { get; set; } = new();

    /// <summary>Global iteration of the next step (epoch · ItersPerEpoch + iteration in epoch).</summary>
    public long Iteration { get; private set; }
    public long TotalIterations => Options.Epochs * ItersPerEpoch;
    public int Epoch => (int)(Iteration / ItersPerEpoch);

    /// <summary>Values of the last step, for logs.</summary>
    public double LastLr { get; private set; }
    public double LastWd { get; private set; }

    /// <summary>The global gradient norm of the last step (before clipping; 0 when nothing computed it). Read from the
    /// device only when asked (a log line), so a step's one host read stays the loss.</summary>
    public double LastGradNorm => _gradNormValue ??= _gradNorm?.Item() ?? 0;

    private Tensor? _gradNorm;
    private double? _gradNormValue;

    /// <summary>One training step on a batch of normalised images; returns the loss. Everything a step needs happens here,
    /// for every caller (CLI pretrain, sparkle bench, the quick benchmarks, GpuCheck): the schedule, the mask, forward,
    /// backward, the NaN stop, clipping, the update, and the memory scopes of the host (<see cref="Pool"/>) and of the
    /// images' device (<see cref="Sparkle.Tensors.Backend.IBackend.BeginStep"/>). Reads the device once: the loss.</summary>
    public double Step(Tensor images) => Step(images, null);

    /// <summary>A step with a given mask (B, 1, f, f) instead of a sampled one (the equivalence tests; the generator
    /// is then not advanced by a mask draw).</summary>
    public double Step(Tensor images, Tensor? mask)
    {
        using var pooled = Pool?.Use();               // this thread's tensors recycle dead arrays across steps
        using var deviceScope = images.Backend.BeginStep();   // ILGPU: the step's dead device storages go back to its pool
        Model.Train();
        // Last step's gradients die before the forward (PyTorch's set_to_none): at the step's peak, the start of the
        // backward, only the gradients computed so far exist, and the pool serves activations from their arrays. Until
        // here they stay readable after Step.
        Optimizer.ZeroGrad(setToNone: true);
        var values = Schedule.Apply(Optimizer, Iteration);
        (LastLr, LastWd) = (values.Lr, values.Wd);
        // On the host, where MaskSampler builds it and the sparse context reads it: a mask made on the device would be read
        // back (a second host read per step). The loss uploads its own copy.
        var active = mask ?? Model.SampleMask(images.Size(0), _rng);
        Tensor loss;
        // SyncBN: the forward's BNs all-reduce their statistics; their backwards (recorded with the group) theirs.
        using (SyncBatchNorm.Use(Group.Size > 1 && Options.SyncBatchNorm ? Group : null))
        {
            loss = Model.Loss(images, active);
            long b0 = System.Diagnostics.Stopwatch.GetTimestamp();
            // Data parallel: each gradient bucket's all-reduce starts as soon as the backward has finished its gradients.
            using (_parallel.BackwardScope()) loss.Backward();
            LastBackwardSeconds = System.Diagnostics.Stopwatch.GetElapsedTime(b0).TotalSeconds;
        }
        // The one host read, after backward was queued (a device runs forward and backward without waiting for the host);
        // before the update, so a NaN/Inf loss leaves the weights as they were. Averaged over the group first, so every
        // rank takes the same branch.
        double value = _parallel.MeanLoss(loss.Item());
        // Before the NaN check: the collectives the backward started complete on every rank even when the step stops.
        _parallel.AverageGradients();
        if (!double.IsFinite(value)) throw new NonFiniteLossException(Iteration, value);
        _gradNormValue = null;
        _gradNorm = Optimizer is not Lamb && Options.Clip > 0 ? GradClipping.ClipGradNorm_(Model.Parameters(), Options.Clip) : null;
        Optimizer.Step();
        if (Optimizer is Lamb lamb) _gradNorm = lamb.GlobalGradNorm;
        Iteration++;
        return value;
    }

    /// <summary>Writes the with-decoder checkpoint (model, optimizer, iteration, RNG) atomically.</summary>
    public void SaveCheckpoint(string path, IReadOnlyDictionary<string, string>? extra = null)
    {
        var state = _rng.GetState();
        var meta = new Dictionary<string, string>(extra ?? new Dictionary<string, string>())
        {
            ["iteration"] = Iteration.ToString(CultureInfo.InvariantCulture),
            ["epoch"] = Epoch.ToString(CultureInfo.InvariantCulture),
            ["rng_seed"] = state.Seed.ToString(CultureInfo.InvariantCulture),
            ["rng_offset"] = state.Offset.ToString(CultureInfo.InvariantCulture),
            [DataParallel.WorldSizeKey] = Group.Size.ToString(CultureInfo.InvariantCulture),
        };
        SparkCheckpoint.SaveWithDecoder(path, Model, Optimizer, meta);
    }

    /// <summary>Restores model, optimizer, iteration and RNG from a with-decoder checkpoint; returns its metadata.</summary>
    public IReadOnlyDictionary<string, string> Resume(string path)
    {
        var meta = SparkCheckpoint.LoadWithDecoder(path, Model, Optimizer);
        string Need(string key) => meta.TryGetValue(key, out var v) ? v
            : throw new InvalidDataException($"{path}: not a resumable checkpoint (no '{key}' in its metadata).");
        Iteration = long.Parse(Need("iteration"), CultureInfo.InvariantCulture);
        _parallel.CheckResumedWorldSize(DataParallel.SavedWorldSize(meta)
            ?? throw new InvalidDataException($"{path}: '{DataParallel.WorldSizeKey}' in its metadata is not a number of ranks."), path);
        // The checkpoint holds rank 0's generator; every rank draws the same amount per step (the same shapes), so rank
        // r continues its own stream at rank 0's offset.
        ulong seed = ulong.Parse(Need("rng_seed"), CultureInfo.InvariantCulture);
        if (Group.Rank != 0) seed = RankSeed(seed, Group.Rank);
        _rng.SetState(new GeneratorState(seed, ulong.Parse(Need("rng_offset"), CultureInfo.InvariantCulture)));
        if (Group.Size > 1) Group.BroadcastState(Model);
        return meta;
    }
}
