using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text.Json;
using Sparkle.Data;
using Sparkle.Models.Training;
using Sparkle.Nn.Parallel;
using Sparkle.Nn.Serialization;
using Sparkle.Tensors;

namespace Sparkle.Cli;

/// <summary>`sparkle finetune` / `sparkle linear-probe` options.</summary>
public sealed record FinetuneArgs : ModelArgs
{
    public bool LinearProbe { get; init; }
    public string? Data { get; init; }
    /// <summary>A timm-style encoder file (from pretrain or export), or a with-decoder checkpoint; null = from scratch.</summary>
    public string? InitWeight { get; init; }
    /// <summary>Label budget: this many labelled training images, class-balanced; 0 = all.</summary>
    public int Labels { get; init; } = 1000;
    public int Epochs { get; init; } = 4;
    public double WarmupEpochs { get; init; } = 1;
    public int BatchSize { get; init; } = 64;
    public double BaseLr { get; init; } = 4e-3;
    public double Wd { get; init; } = 0.05;
    public string Opt { get; init; } = "adamw";
    public double Clip { get; init; }
    public double Smoothing { get; init; } = 0.1;
    public double Dp { get; init; }
    public string Output { get; init; } = Path.Combine("runs", "finetune");
    public int Workers { get; init; } = Math.Max(1, Math.Min(4, Environment.ProcessorCount - 1));
    public int LogEvery { get; init; } = 10;
    /// <summary>Evaluate on at most this many test images (0 = all).</summary>
    public int TestLimit { get; init; }
    public bool Quiet { get; init; }
    /// <summary>--strict-images: a bad image file (truncated, CRC error) stops the run (exit 1) instead of being skipped.</summary>
    public bool StrictImages { get; init; }
    /// <summary>Data-parallel over MPI (mpiexec -n N ... --distributed): --batch-size is the global batch.</summary>
    public bool Distributed { get; init; }
    /// <summary>--sync-bn: with --distributed, BN statistics over all ranks (the official recipe's optional SyncBN).</summary>
    public bool SyncBn { get; init; }
    /// <summary>--overwrite: replace the previous run in a non-empty --output.</summary>
    public bool Overwrite { get; init; }

    public double PeakLr => BaseLr * BatchSize / 256;

    public static FinetuneArgs Parse(IReadOnlyList<string> argv, bool linearProbe)
    {
        string cmd = linearProbe ? "linear-probe" : "finetune";
        string[] valued = [.. Valued, "data", "init-weight", "labels", "epochs", "ep", "warmup-epochs", "wp-ep", "batch-size", "bs", "base-lr", "wd", "opt",
            "clip", "smoothing", "dp", "output", "workers", "log-every", "test-limit"];
        var a = Args.Parse(cmd, argv, valued, ["quiet", "distributed", "sync-bn", "overwrite", "strict-images"]);
        if (a.Positionals.Count > 0) throw new UsageException($"{cmd}: unexpected argument '{a.Positionals[0]}'.");
        var d = linearProbe
            ? new FinetuneArgs { LinearProbe = true, Epochs = 30, WarmupEpochs = 2, BaseLr = 0.04, Wd = 0, Output = Path.Combine("runs", "linear-probe") }
            : new FinetuneArgs();
        var r = ParseModel(d, a, cmd) with
        {
            Data = a.String("data"),
            InitWeight = a.String("init-weight"),
            Labels = a.Int("labels", d.Labels, 0),
            Epochs = a.Has("ep") ? a.Int("ep", d.Epochs, 1) : a.Int("epochs", d.Epochs, 1),
            WarmupEpochs = a.Has("wp-ep") ? a.Double("wp-ep", d.WarmupEpochs, 0) : a.Double("warmup-epochs", d.WarmupEpochs, 0),
            BatchSize = a.Has("bs") ? a.Int("bs", d.BatchSize, 1) : a.Int("batch-size", d.BatchSize, 1),
            BaseLr = a.Double("base-lr", d.BaseLr, 0),
            Wd = a.Double("wd", d.Wd, 0),
            Opt = a.Choice("opt", d.Opt, "adamw", "sgd"),
            Clip = a.Double("clip", d.Clip, 0),
            Smoothing = a.Double("smoothing", d.Smoothing, 0, 0.99),
            Dp = a.Double("dp", d.Dp, 0, 1),
            Output = a.String("output", d.Output)!,
            Workers = a.Int("workers", d.Workers, 0),
            LogEvery = a.Int("log-every", d.LogEvery, 1),
            TestLimit = a.Int("test-limit", d.TestLimit, 0),
            Quiet = a.Bool("quiet", false),
            StrictImages = a.Bool("strict-images", false),
            Distributed = a.Bool("distributed", false),
            SyncBn = a.Bool("sync-bn", false),
            Overwrite = a.Bool("overwrite", false),
            ThreadsGiven = a.Has("threads"),
        };
        if (r.SyncBn && !r.Distributed) throw new UsageException($"{cmd}: --sync-bn needs --distributed (one process has nothing to sync).");
        if (r.SyncBn && linearProbe) throw new UsageException("linear-probe: --sync-bn has no effect (the backbone is frozen, in eval mode; the head has no BN).");
        if (r.WarmupEpochs >= r.Epochs) throw new UsageException($"{cmd}: --warmup-epochs ({r.WarmupEpochs}) must be below --epochs ({r.Epochs}).");
        return r;
    }
}

public sealed record FinetuneResult(double Top1, int TrainImages, int TestImages, IReadOnlyList<double> EpochTop1, double Seconds)
{
    /// <summary>Set when the run did not start (a bad distributed launch, said by rank 0).</summary>
    public int? FailureExit { get; init; }
    /// <summary>Stopped by Ctrl+C (exit 130; nothing is written but the log and summary.csv so far).</summary>
    public bool Signalled { get; init; }
    public int ExitCode => FailureExit ?? (Signalled ? ExitCodes.Interrupted : ExitCodes.Ok);
}

/// <summary>An index subset of a dataset (label budget, hold-out split).</summary>
public sealed class SubsetDataset(IImageDataset inner, int[] indices) : IImageDataset
{
    public int Count => indices.Length;
    public IReadOnlyList<string> Classes => inner.Classes;
    public int Label(int index) => inner.Label(indices[index]);
    public bool TryLoad(int index, [NotNullWhen(true)] out DecodedImage? image) => inner.TryLoad(indices[index], out image);
    public string Describe(int index) => inner.Describe(indices[index]);

    /// <summary>At most <paramref name="budget"/> images, as equal per class as the classes allow, drawn by a seeded shuffle;
    /// kept in dataset order.</summary>
    public static int[] ClassBalanced(IImageDataset set, int budget, ulong seed)
    {
        int classes = set.Classes.Count;
        if (budget <= 0 || budget >= set.Count) return Enumerable.Range(0, set.Count).ToArray();
        var order = Tensor.Randperm(set.Count, new Generator(seed)).ToArray<long>();
        var byClass = Enumerable.Range(0, classes).Select(_ => new List<int>()).ToArray();
        foreach (long i in order) byClass[set.Label((int)i)].Add((int)i);
        var chosen = new List<int>();
        int quota = budget / classes, extra = budget % classes;
        for (int c = 0; c < classes; c++) chosen.AddRange(byClass[c].Take(quota + (c < extra ? 1 : 0)));
        chosen.Sort();
        return chosen.ToArray();
    }
}

/// <summary>`sparkle finetune` and `sparkle linear-probe`, on <see cref="Finetuner"/>.</summary>
public static class FinetuneCommand
{
    public const string ClassifierFile = "classifier.safetensors";

    /// <summary>Runs the command; <paramref name="errors"/> (stderr by default) gets the data warnings (skipped images).</summary>
    public static FinetuneResult Run(FinetuneArgs o, TextWriter console, CancellationToken cancel = default, TextWriter? errors = null)
    {
        string cmd = o.LinearProbe ? "linear-probe" : "finetune";
        return DistributedRun.Launch(o.Distributed, cmd, o.BatchSize,
            group => Run(o with { Threads = DistributedRun.Threads(o, o.ThreadsGiven, group) }, console, errors ?? Console.Error, group, cancel),
            () => new FinetuneResult(0, 0, 0, [], 0) { FailureExit = 2 });
    }

    /// <summary>The train and test sets of a run (label budget, hold-out split, test limit), the same on every rank.</summary>
    internal static (IImageDataset Train, IImageDataset Test) Splits(FinetuneArgs o, DataSource source, Action<string> say)
    {
        string cmd = o.LinearProbe ? "linear-probe" : "finetune";
        IImageDataset train = source.Train, test;
        if (train.Classes.Count < 2) throw new UsageException($"{cmd}: --data {o.Data} has no class labels (needs class sub-folders).");
        if (source.Test is { Count: > 0 } t) test = t;
        else
        {   // no test split: hold out every 5th image
            var all = Enumerable.Range(0, train.Count);
            test = new SubsetDataset(train, all.Where(i => i % 5 == 0).ToArray());
            train = new SubsetDataset(train, all.Where(i => i % 5 != 0).ToArray());
            say($"no test split in {o.Data}: holding out every 5th image ({test.Count}) for testing");
        }
        if (o.TestLimit > 0 && test.Count > o.TestLimit) test = new SubsetDataset(test, SubsetDataset.ClassBalanced(test, o.TestLimit, o.Seed + 7));
        train = new SubsetDataset(train, SubsetDataset.ClassBalanced(train, o.Labels, o.Seed + 3));
        return (train, test);
    }

    /// <summary>Rank r's contiguous chunk of an evaluation set (ceil(n/N) images; the last chunk may be shorter).</summary>
    internal static IImageDataset Chunk(IImageDataset set, ICommunicator group)
    {
        if (group.Size == 1) return set;
        int per = (set.Count + group.Size - 1) / group.Size, start = Math.Min(set.Count, group.Rank * per);
        return new SubsetDataset(set, Enumerable.Range(start, Math.Min(per, set.Count - start)).ToArray());
    }

    /// <summary>The run as rank <c>group.Rank</c> of <c>group.Size</c>: every rank trains on its part of each global
    /// batch and evaluates its chunk of the test set; rank 0 alone prints, logs and writes the classifier.</summary>
    private static FinetuneResult Run(FinetuneArgs o, TextWriter console, TextWriter errors, ICommunicator group, CancellationToken cancel)
    {
        string cmd = o.LinearProbe ? "linear-probe" : "finetune";
        bool lead = group.Rank == 0;
        void Say(string s) { if (!o.Quiet && lead) console.WriteLine(s); }
        o.ApplyThreads();
        // Up-front checks, before any data is read or model built.
        if (!o.LinearProbe)
        {
            int f = o.DeepestMap, perNorm = o.SyncBn ? o.BatchSize : o.BatchSize / group.Size;
            o.CheckTrainBatchNorm(cmd, perNorm, f * f, "site(s)", "use a larger --batch-size or --input-size");
        }
        if (o.InitWeight is not null) InputFiles.Header(o.InitWeight, "--init-weight");
        if (lead) RunFolder.Prepare(o.Output, cmd, resume: false, o.Overwrite, Say);
        var source = DataSources.Open(o.Data, msg => { if (lead) errors.WriteLine(msg); }, o.StrictImages);
        var (train, test) = Splits(o, source, Say);
        int classes = train.Classes.Count;

        var backbone = o.CreateBackbone(o.Dp, o.Seed);
        var model = new Classifier(backbone, classes, new Generator(o.Seed + 2));
        string init = "from scratch";
        if (o.InitWeight is not null)
        {
            InputFiles.Load(o.InitWeight, "--init-weight", () => LoadEncoder(o.InitWeight, model, o.Model, Say));
            init = $"from {o.InitWeight}";
        }
        if (o.LinearProbe) foreach (var p in model.Backbone.Parameters()) p.RequiresGrad = false;
        using var device = o.OpenDevice(cmd);
        model.To(device.Device);
        Say($"sparkle {cmd}: {o.Model}{(o.UseSmallStem ? " (small stem)" : "")} {o.InputSize}px {init}; {train.Count} labelled training images " +
            $"({classes} classes), {test.Count} test images; {o.Epochs} epochs, batch {o.BatchSize}, {o.Opt} lr {Fmt.G(o.PeakLr, "G3")}, {o.Threads} threads");
        if (group.Size > 1) Say($"distributed: {group.Description}; {o.BatchSize / group.Size} images per rank per step{(o.SyncBn ? ", SyncBN" : "")}, {o.Threads} thread(s) per rank");
        var testChunk = Chunk(test, group);

        using var log = lead ? new RunLog(Path.Combine(o.Output, PretrainCommand.LogFile), append: false) : null;
        var summary = lead ? new SummaryCsv(o.Output, ["epoch", "train_loss", "lr", "epoch_s", "eval_top1"], append: false) : null;
        var epochClock = Stopwatch.StartNew();
        bool signalled = false;
        // Every rank stops at the same step: a Ctrl+C that reached one rank first stops all of them.
        bool StopRequested()
        {
            if (group.Size == 1) return cancel.IsCancellationRequested;
            Span<double> flag = [cancel.IsCancellationRequested ? 1 : 0];
            group.AllReduceMax(flag);
            return flag[0] > 0;
        }
        log?.Write(new Dictionary<string, object?>
        {
            ["type"] = "config", ["name"] = $"sparkle {cmd}", ["cmd"] = Environment.CommandLine, ["args"] = JsonSerializer.SerializeToElement(o),
            ["data"] = source.Description, ["train_images"] = train.Count, ["test_images"] = test.Count, ["init"] = init, ["world_size"] = group.Size,
        });
        var clock = Stopwatch.StartNew();
        var evalTransform = EvalTransform.ForFineTune(o.InputSize);
        var epochTop1 = new List<double>();
        var options = new FinetuneOptions
        {
            Epochs = o.Epochs, WarmupEpochs = o.WarmupEpochs, BatchSize = o.BatchSize, Lr = o.PeakLr, WeightDecay = o.Wd, Optimizer = o.Opt,
            LabelSmoothing = o.Smoothing, Clip = o.Clip, Seed = o.Seed, SyncBatchNorm = o.SyncBn,
        };
        double top1;
        if (o.LinearProbe)
        {
            // Every rank holds the whole training set's features (a frozen backbone in eval mode: each image's features
            // do not depend on the rank) and its own chunk of the test set's.
            var (xTrain, yTrain) = Features(model, train, evalTransform, o, device);
            var (xTest, yTest) = testChunk.Count > 0 ? Features(model, testChunk, evalTransform, o, device)
                : (xTrain.Narrow(0, 0, 0), yTrain.Narrow(0, 0, 0));                  // a rank with no test images
            Say($"features: {xTrain.Size(0)} x {xTrain.Size(1)} train, {test.Count} test ({Fmt.Duration(clock.Elapsed.TotalSeconds)})");
            int n = xTrain.Size(0), ipe = (n + o.BatchSize - 1) / o.BatchSize;
            var tuner = new Finetuner(model.Head, options, ipe, group);
            int local = tuner.LocalBatchSize;
            top1 = 0;
            for (int e = 0; e < o.Epochs; e++)
            {
                var perm = Tensor.Randperm(n, new Generator(o.Seed + (ulong)e));
                // Distributed: the epoch's order padded with its own first entries to ipe·B (as the loader's sampler
                // does), so that every rank gets B/N rows of every global batch. One process keeps the short last batch.
                if (group.Size > 1)
                {
                    var order = perm.ToArray<long>();
                    perm = Tensor.FromArray(Enumerable.Range(0, ipe * o.BatchSize).Select(j => order[j % n]).ToArray(), [ipe * o.BatchSize]);
                }
                perm = device.Upload(perm);
                double sum = 0;
                if (StopRequested()) { signalled = true; break; }
                for (int i = 0; i < ipe; i++)
                {
                    var idx = group.Size > 1 ? perm.Narrow(0, i * o.BatchSize + group.Rank * local, local)
                        : perm.Narrow(0, i * o.BatchSize, Math.Min(o.BatchSize, n - i * o.BatchSize));
                    using var scope = device.StepScope();
                    sum += tuner.Step(xTrain.IndexSelect(0, idx), yTrain.IndexSelect(0, idx));
                }
                long seenHere = xTest.Size(0);
                var acc = Finetuner.GlobalAccuracy(group, seenHere == 0 ? 0 : Finetuner.Correct(model.Head, xTest, yTest), seenHere);
                top1 = acc.Top1;
                epochTop1.Add(top1);
                log?.Write(new Dictionary<string, object?> { ["type"] = "epoch", ["epoch"] = e + 1, ["loss"] = sum / ipe, ["top1"] = top1, ["evaluated"] = acc.Seen, ["lr"] = tuner.LastLr });
                summary?.Write(e + 1, sum / ipe, tuner.LastLr, epochClock.Elapsed.TotalSeconds, top1);
                epochClock.Restart();
                if (e == o.Epochs - 1 || (e + 1) % 5 == 0) Say(string.Create(CultureInfo.InvariantCulture, $"epoch {e + 1}/{o.Epochs}: loss {sum / ipe:F4}, test top-1 {top1:F2} %"));
            }
        }
        else
        {
            using var loader = new DataLoader(train, new PretrainTransform(o.InputSize),
                new LoaderOptions { BatchSize = o.BatchSize, Seed = o.Seed, Workers = o.Workers, Prefetch = 4, Rank = group.Rank, WorldSize = group.Size });
            var tuner = new Finetuner(model, options, loader.IterationsPerEpoch, group);
            top1 = 0;
            double sum = 0, epochSum = 0; int count = 0, images = 0, epochCount = 0;
            var interval = Stopwatch.StartNew();
            foreach (var batch in loader.Batches(0, 0, o.Epochs))
            {
                if (StopRequested()) { signalled = true; break; }
                double loss;
                using (device.StepScope())
                    loss = tuner.Step(device.Upload(batch.Images), device.Upload(batch.Labels!));
                sum += loss; epochSum += loss; epochCount++;
                count++; images += batch.Count * group.Size;            // the global batch
                bool epochEnd = batch.Iteration == loader.IterationsPerEpoch - 1;
                if (tuner.Iteration % o.LogEvery == 0 || epochEnd)
                {
                    double ips = images / Math.Max(interval.Elapsed.TotalSeconds, 1e-9);
                    log?.Write(new Dictionary<string, object?> { ["type"] = "step", ["epoch"] = batch.Epoch + 1, ["iteration"] = tuner.Iteration, ["loss"] = sum / count, ["lr"] = tuner.LastLr, ["images_per_s"] = ips });
                    Say(string.Create(CultureInfo.InvariantCulture, $"ep {batch.Epoch + 1}/{o.Epochs} step {batch.Iteration + 1}/{loader.IterationsPerEpoch}  loss {sum / count:F4}  lr {tuner.LastLr:E2}  {ips:F1} img/s"));
                    sum = 0; count = 0; images = 0; interval.Restart();
                }
                if (epochEnd)
                {
                    var (correct, seen) = Evaluate(model, testChunk, evalTransform, o, device);
                    var acc = Finetuner.GlobalAccuracy(group, correct, seen);
                    top1 = acc.Top1;
                    epochTop1.Add(top1);
                    log?.Write(new Dictionary<string, object?> { ["type"] = "epoch", ["epoch"] = batch.Epoch + 1, ["top1"] = top1, ["evaluated"] = acc.Seen, ["elapsed_s"] = clock.Elapsed.TotalSeconds });
                    summary?.Write(batch.Epoch + 1, epochSum / epochCount, tuner.LastLr, epochClock.Elapsed.TotalSeconds, top1);
                    epochSum = 0; epochCount = 0; epochClock.Restart();
                    Say(string.Create(CultureInfo.InvariantCulture, $"epoch {batch.Epoch + 1}/{o.Epochs}: test top-1 {top1:F2} % ({Fmt.Duration(clock.Elapsed.TotalSeconds)})"));
                    interval.Restart();
                }
            }
        }
        if (signalled)
        {
            log?.Write(new Dictionary<string, object?> { ["type"] = "interrupted", ["epochs_done"] = epochTop1.Count, ["elapsed_s"] = clock.Elapsed.TotalSeconds });
            Say($"{cmd}: interrupted after {epochTop1.Count} of {o.Epochs} epoch(s); no classifier written (a fine-tune cannot be resumed)");
            return new FinetuneResult(top1, train.Count, test.Count, epochTop1, clock.Elapsed.TotalSeconds) { Signalled = true };
        }
        if (lead)
            SafeTensors.Save(Path.Combine(o.Output, ClassifierFile), model.StateDict(),
                new Dictionary<string, string> { ["arch"] = o.Model, ["top1"] = top1.ToString("R", CultureInfo.InvariantCulture), ["init"] = init });
        log?.Write(new Dictionary<string, object?> { ["type"] = "done", ["top1"] = top1, ["elapsed_s"] = clock.Elapsed.TotalSeconds });
        Say(string.Create(CultureInfo.InvariantCulture, $"{cmd} done in {Fmt.Duration(clock.Elapsed.TotalSeconds)}: test top-1 {top1:F2} % ({init}, {train.Count} labels)"));
        return new FinetuneResult(top1, train.Count, test.Count, epochTop1, clock.Elapsed.TotalSeconds);
    }

    /// <summary>Loads an encoder file (ours, timm's, torchvision's) or the encoder part of a with-decoder checkpoint into
    /// the classifier's backbone (<see cref="InitWeight"/>).</summary>
    internal static void LoadEncoder(string path, Classifier model, string arch, Action<string> say) =>
        InitWeight.Load(path, model.Backbone, arch, say);

    private static (Tensor X, Tensor Y) Features(Classifier model, IImageDataset set, ISampleTransform transform, FinetuneArgs o, DeviceSession device)
    {
        using var loader = new DataLoader(set, transform, new LoaderOptions { BatchSize = 128, Shuffle = false, LastBatch = LastBatch.Keep, Workers = o.Workers });
        var xs = new List<Tensor>(); var ys = new List<Tensor>();
        foreach (var b in loader.Epoch(0)) { xs.Add(model.FrozenFeatures(device.Upload(b.Images))); ys.Add(device.Upload(b.Labels!)); }
        return (Tensor.Cat(xs, 0), Tensor.Cat(ys, 0));
    }

    /// <summary>(correct, seen) of the model on a set (a rank's chunk; empty gives (0, 0)).</summary>
    internal static (long Correct, long Seen) Evaluate(Classifier model, IImageDataset set, ISampleTransform transform, FinetuneArgs o, DeviceSession device)
    {
        if (set.Count == 0) return (0, 0);
        using var loader = new DataLoader(set, transform, new LoaderOptions { BatchSize = 128, Shuffle = false, LastBatch = LastBatch.Keep, Workers = o.Workers });
        long correct = 0, n = 0;
        foreach (var b in loader.Epoch(0)) { using (device.StepScope()) correct += Finetuner.Correct(model, device.Upload(b.Images), device.Upload(b.Labels!)); n += b.Count; }
        return (correct, n);
    }
}
