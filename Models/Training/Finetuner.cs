using Sparkle.Autograd;
using Sparkle.Nn;
using Sparkle.Nn.Layers;
using Sparkle.Nn.Optim;
using Sparkle.Nn.Parallel;
using Sparkle.Tensors;
using F = Sparkle.Nn.Functional;

namespace Sparkle.Models.Training;

/// <summary>Classification training hyper-parameters (fine-tuning and linear probing).</summary>
public sealed record FinetuneOptions
{
    public int Epochs { get; init; } = 10;
    public double WarmupEpochs { get; init; } = 1;
    public int BatchSize { get; init; } = 64;
    /// <summary>Peak learning rate (the CLI derives it as base_lr · batch / 256).</summary>
    public double Lr { get; init; } = 1e-3;
    /// <summary>Constant weight decay of the decay group (1-D params and biases get none, SPARK.md §5.3 rules).</summary>
    public double WeightDecay { get; init; } = 0.05;
    /// <summary>adamw or sgd (momentum 0.9, nesterov).</summary>
    public string Optimizer { get; init; } = "adamw";
    public double Beta2 { get; init; } = 0.999;
    public double LabelSmoothing { get; init; } = 0.1;
    /// <summary>Global gradient-norm clip before the step; 0 disables.</summary>
    public double Clip { get; init; }
    public ulong Seed { get; init; } = 1;
    /// <summary>With a group of more than one rank: synchronise the BN batch statistics over the group (the official
    /// fine-tune recipe's optional SyncBN, SPARK.md §6.1). Off by default, as there; a single process never syncs.</summary>
    public bool SyncBatchNorm { get; init; }
}

/// <summary>
/// A backbone (any <see cref="IHierarchicalEncoder"/>) with global average pooling of its last feature map and a linear head
/// "head" (no BN). Backbone keys sit under "backbone." and are the timm-style encoder keys.
/// </summary>
public sealed class Classifier : Module
{
    public Classifier(Module backbone, int numClasses, Generator? generator = null)
    {
        if (backbone is not IHierarchicalEncoder encoder) throw new ArgumentException("Classifier: the backbone must be an IHierarchicalEncoder.");
        RegisterModule("backbone", backbone);
        Features = encoder.FeatureMapChannels[^1];
        RegisterModule("head", new Linear(Features, numClasses, dtype: backbone.Parameters().First().DType, generator: generator));
    }

    public Module Backbone => Child<Module>("backbone");
    public Linear Head => Child<Linear>("head");
    public int Features { get; }

    /// <summary>Globally pooled features (B, C) of the last feature map.</summary>
    public Tensor PooledFeatures(Tensor images) => ((IHierarchicalEncoder)Backbone).ForwardFeatures(images)[^1].Mean([2, 3]);

    public override Tensor Forward(Tensor images) => Head.Forward(PooledFeatures(images));

    /// <summary>Features for a linear probe: backbone in eval mode, no graph.</summary>
    public Tensor FrozenFeatures(Tensor images)
    {
        bool training = Backbone.Training;
        Backbone.Eval();
        try
        {
            using var _ = GradMode.NoGrad();
            return PooledFeatures(images);
        }
        finally { Backbone.Train(training); }
    }
}

/// <summary>
/// The classification step loop: warm-up + cosine lr per iteration (the pre-training schedule's shape, constant wd),
/// cross-entropy with label smoothing, AdamW or SGD, optional clipping, BN in train mode. The trained module maps a batch
/// to logits: a whole <see cref="Classifier"/> for fine-tuning, or just its head on frozen features for a linear probe.
/// Data parallel (a group of N ranks, the pre-training's <see cref="DataParallel"/> semantics): each rank steps on its
/// B/N part of the global batch; the model starts from rank 0's state; the gradients are averaged after the backward
/// and the returned loss is the ranks' mean, so every rank takes the same NaN stop and the same optimizer step.
/// </summary>
public sealed class Finetuner
{
    private readonly DataParallel _parallel;

    public Finetuner(Module model, FinetuneOptions options, long itersPerEpoch, ICommunicator? group = null)
    {
        Model = model;
        Options = options;
        ItersPerEpoch = itersPerEpoch;
        var trainable0 = model.Parameters().Where(p => p.RequiresGrad).ToList();
        _parallel = new DataParallel(group, model, options.BatchSize, trainable0);
        if (Group.Rank != 0)
        {   // rank r drops other paths than rank 0 (whose stream stays the single-process one), as pre-training does
            var rng = new Generator(DataParallel.RankSeed(options.Seed, Group.Rank));
            foreach (var (_, m) in model.NamedModules())
            {
                if (m is DropPath dp) dp.Generator = rng;
                if (m is Dropout d) d.Generator = rng;
            }
        }
        Schedule = LrWdSchedule.FromEpochs(options.Lr, options.WeightDecay, options.WeightDecay, options.Epochs, options.WarmupEpochs, itersPerEpoch);
        var trainable = model.NamedParameters().Where(p => p.Parameter.RequiresGrad).ToList();
        var groups = ParamGroups.Split(trainable);
        Optimizer = options.Optimizer switch
        {
            "adamw" => new AdamW(groups, options.Lr, beta2: options.Beta2, weightDecay: 0),
            "sgd" => new Sgd(groups, options.Lr, momentum: 0.9, nesterov: true),
            _ => throw new ArgumentException($"Unknown optimizer '{options.Optimizer}' (adamw or sgd)."),
        };
    }

    public Module Model { get; }
    public FinetuneOptions Options { get; }

    /// <summary>The data-parallel group (a <see cref="LocalCommunicator"/> for one process).</summary>
    public ICommunicator Group => _parallel.Group;

    /// <summary>The rank's part of the global batch.</summary>
    public int LocalBatchSize => _parallel.LocalBatchSize;
    public long ItersPerEpoch { get; }
    public LrWdSchedule Schedule { get; }
    public Optimizer Optimizer { get; }

    /// <summary>Recycles the arrays of each step's dead activations and gradients in the next (docs/tensors.md).</summary>
    public TensorPool Pool { get; } = new();
    public long Iteration { get; private set; }
    public double LastLr { get; private set; }

    /// <summary>One step on (inputs, int64 labels); returns the loss.</summary>
    public double Step(Tensor inputs, Tensor labels)
    {
        using var pooled = Pool.Use();                // this thread's tensors recycle dead arrays across steps
        Model.Train();
        // Last step's gradients die before the forward (PyTorch's set_to_none): at the step's peak, the start of the
        // backward, only the gradients computed so far exist, and the pool serves activations from their arrays. Until
        // here they stay readable after Step.
        Optimizer.ZeroGrad(setToNone: true);
        LastLr = Schedule.Apply(Optimizer, Iteration).Lr;
        double value;
        // SyncBN (optional): the forward's BNs all-reduce their statistics, their backwards theirs.
        using (SyncBatchNorm.Use(Group.Size > 1 && Options.SyncBatchNorm ? Group : null))
        {
            var loss = F.CrossEntropy(Model.Forward(inputs), labels, Options.LabelSmoothing);
            // Averaged over the group before the check, so a NaN on one rank stops every rank at this step.
            value = _parallel.MeanLoss(loss.Item());
            if (!double.IsFinite(value)) throw new NonFiniteLossException(Iteration, value);
            // Data parallel: each gradient bucket's all-reduce starts as soon as the backward has finished its gradients.
            using (_parallel.BackwardScope()) loss.Backward();
        }
        _parallel.AverageGradients();
        if (Options.Clip > 0) GradClipping.ClipGradNorm_(Optimizer.ParamGroups.SelectMany(g => g.Parameters), Options.Clip);
        Optimizer.Step();
        Iteration++;
        return value;
    }

    /// <summary>The global top-1 accuracy in percent from each rank's (correct, seen) counts, the same on every rank:
    /// each rank evaluates its own chunk of the test set and the counts are summed over the group.</summary>
    public static (double Top1, long Correct, long Seen) GlobalAccuracy(ICommunicator group, long correct, long seen)
    {
        Span<long> counts = [correct, seen];
        group.AllReduceSum(counts);
        return (counts[1] == 0 ? 0 : 100.0 * counts[0] / counts[1], counts[0], counts[1]);
    }

    /// <summary>Number of correct top-1 predictions of <paramref name="model"/> (eval mode, no graph) on a batch.</summary>
    public static int Correct(Module model, Tensor inputs, Tensor labels)
    {
        bool training = model.Training;
        model.Eval();
        try
        {
            using var _ = GradMode.NoGrad();
            var predicted = model.Forward(inputs).ArgMax(1);
            return (int)predicted.Eq(labels).To(DType.Int64).Sum().Item();
        }
        finally { model.Train(training); }
    }
}
