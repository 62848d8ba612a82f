using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text.Json;
using Sparkle.Data;
using Sparkle.Models.Training;
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

    public double PeakLr => BaseLr * BatchSize / 256;

    public static FinetuneArgs Parse(IReadOnlyList<string> argv, bool linearProbe)
    {
        string cmd = linearProbe ? "linear-probe" : "finetune";
        string[] valued = [.. Valued, "data", "init-weight", "labels", "epochs", "ep", "warmup-epochs", "wp-ep", "batch-size", "bs", "base-lr", "wd", "opt",
            "clip", "smoothing", "dp", "output", "workers", "log-every", "test-limit"];
        var a = Args.Parse(cmd, argv, valued, ["quiet"]);
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
        };
        if (r.WarmupEpochs >= r.Epochs) throw new UsageException($"{cmd}: --warmup-epochs ({r.WarmupEpochs}) must be below --epochs ({r.Epochs}).");
        return r;
    }
}

public sealed record FinetuneResult(double Top1, int TrainImages, int TestImages, IReadOnlyList<double> EpochTop1, double Seconds)
{
    public int ExitCode => 0;
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
    public static FinetuneResult Run(FinetuneArgs o, TextWriter console)
    {
        string cmd = o.LinearProbe ? "linear-probe" : "finetune";
        void Say(string s) { if (!o.Quiet) console.WriteLine(s); }
        o.ApplyThreads();
        Directory.CreateDirectory(o.Output);
        var source = DataSources.Open(o.Data, msg => console.WriteLine(msg));
        IImageDataset train = source.Train, test;
        if (train.Classes.Count < 2) throw new UsageException($"{cmd}: --data {o.Data} has no class labels (needs class sub-folders).");
        if (source.Test is { Count: > 0 } t) test = t;
        else
        {   // no test split: hold out every 5th image
            var all = Enumerable.Range(0, train.Count);
            test = new SubsetDataset(train, all.Where(i => i % 5 == 0).ToArray());
            train = new SubsetDataset(train, all.Where(i => i % 5 != 0).ToArray());
            Say($"no test split in {o.Data}: holding out every 5th image ({test.Count}) for testing");
        }
        if (o.TestLimit > 0 && test.Count > o.TestLimit) test = new SubsetDataset(test, SubsetDataset.ClassBalanced(test, o.TestLimit, o.Seed + 7));
        train = new SubsetDataset(train, SubsetDataset.ClassBalanced(train, o.Labels, o.Seed + 3));
        int classes = train.Classes.Count;

        var backbone = o.CreateBackbone(o.Dp, o.Seed);
        var model = new Classifier(backbone, classes, new Generator(o.Seed + 2));
        string init = "from scratch";
        if (o.InitWeight is not null)
        {
            LoadEncoder(o.InitWeight, model);
            init = $"from {o.InitWeight}";
        }
        if (o.LinearProbe) foreach (var p in model.Backbone.Parameters()) p.RequiresGrad = false;
        using var device = o.OpenDevice(cmd);
        model.To(device.Device);
        Say($"sparkle {cmd}: {o.Model}{(o.UseSmallStem ? " (small stem)" : "")} {o.InputSize}px {init}; {train.Count} labelled training images " +
            $"({classes} classes), {test.Count} test images; {o.Epochs} epochs, batch {o.BatchSize}, {o.Opt} lr {Fmt.G(o.PeakLr, "G3")}, {o.Threads} threads");

        using var log = new RunLog(Path.Combine(o.Output, PretrainCommand.LogFile), append: false);
        log.Write(new Dictionary<string, object?>
        {
            ["type"] = "config", ["name"] = $"sparkle {cmd}", ["cmd"] = Environment.CommandLine, ["args"] = JsonSerializer.SerializeToElement(o),
            ["data"] = source.Description, ["train_images"] = train.Count, ["test_images"] = test.Count, ["init"] = init,
        });
        var clock = Stopwatch.StartNew();
        var evalTransform = EvalTransform.ForFineTune(o.InputSize);
        var epochTop1 = new List<double>();
        var options = new FinetuneOptions
        {
            Epochs = o.Epochs, WarmupEpochs = o.WarmupEpochs, BatchSize = o.BatchSize, Lr = o.PeakLr, WeightDecay = o.Wd, Optimizer = o.Opt,
            LabelSmoothing = o.Smoothing, Clip = o.Clip, Seed = o.Seed,
        };
        double top1;
        if (o.LinearProbe)
        {
            var (xTrain, yTrain) = Features(model, train, evalTransform, o, device);
            var (xTest, yTest) = Features(model, test, evalTransform, o, device);
            Say($"features: {xTrain.Size(0)} x {xTrain.Size(1)} train, {xTest.Size(0)} test ({Fmt.Duration(clock.Elapsed.TotalSeconds)})");
            int n = xTrain.Size(0), ipe = (n + o.BatchSize - 1) / o.BatchSize;
            var tuner = new Finetuner(model.Head, options, ipe);
            top1 = 0;
            for (int e = 0; e < o.Epochs; e++)
            {
                var perm = device.Upload(Tensor.Randperm(n, new Generator(o.Seed + (ulong)e)));
                double sum = 0;
                for (int i = 0; i < ipe; i++)
                {
                    var idx = perm.Narrow(0, i * o.BatchSize, Math.Min(o.BatchSize, n - i * o.BatchSize));
                    using var scope = device.StepScope();
                    sum += tuner.Step(xTrain.IndexSelect(0, idx), yTrain.IndexSelect(0, idx));
                }
                top1 = 100.0 * Finetuner.Correct(model.Head, xTest, yTest) / xTest.Size(0);
                epochTop1.Add(top1);
                log.Write(new Dictionary<string, object?> { ["type"] = "epoch", ["epoch"] = e + 1, ["loss"] = sum / ipe, ["top1"] = top1, ["lr"] = tuner.LastLr });
                if (e == o.Epochs - 1 || (e + 1) % 5 == 0) Say(string.Create(CultureInfo.InvariantCulture, $"epoch {e + 1}/{o.Epochs}: loss {sum / ipe:F4}, test top-1 {top1:F2} %"));
            }
        }
        else
        {
            using var loader = new DataLoader(train, new PretrainTransform(o.InputSize),
                new LoaderOptions { BatchSize = o.BatchSize, Seed = o.Seed, Workers = o.Workers, Prefetch = 4 });
            var tuner = new Finetuner(model, options, loader.IterationsPerEpoch);
            top1 = 0;
            double sum = 0; int count = 0, images = 0;
            var interval = Stopwatch.StartNew();
            foreach (var batch in loader.Batches(0, 0, o.Epochs))
            {
                using (device.StepScope())
                    sum += tuner.Step(device.Upload(batch.Images), device.Upload(batch.Labels!));
                count++; images += batch.Count;
                bool epochEnd = batch.Iteration == loader.IterationsPerEpoch - 1;
                if (tuner.Iteration % o.LogEvery == 0 || epochEnd)
                {
                    double ips = images / Math.Max(interval.Elapsed.TotalSeconds, 1e-9);
                    log.Write(new Dictionary<string, object?> { ["type"] = "step", ["epoch"] = batch.Epoch + 1, ["iteration"] = tuner.Iteration, ["loss"] = sum / count, ["lr"] = tuner.LastLr, ["images_per_s"] = ips });
                    Say(string.Create(CultureInfo.InvariantCulture, $"ep {batch.Epoch + 1}/{o.Epochs} step {batch.Iteration + 1}/{loader.IterationsPerEpoch}  loss {sum / count:F4}  lr {tuner.LastLr:E2}  {ips:F1} img/s"));
                    sum = 0; count = 0; images = 0; interval.Restart();
                }
                if (epochEnd)
                {
                    top1 = Evaluate(model, test, evalTransform, o, device);
                    epochTop1.Add(top1);
                    log.Write(new Dictionary<string, object?> { ["type"] = "epoch", ["epoch"] = batch.Epoch + 1, ["top1"] = top1, ["elapsed_s"] = clock.Elapsed.TotalSeconds });
                    Say(string.Create(CultureInfo.InvariantCulture, $"epoch {batch.Epoch + 1}/{o.Epochs}: test top-1 {top1:F2} % ({Fmt.Duration(clock.Elapsed.TotalSeconds)})"));
                    interval.Restart();
                }
            }
        }
        SafeTensors.Save(Path.Combine(o.Output, "classifier.safetensors"), model.StateDict(),
            new Dictionary<string, string> { ["arch"] = o.Model, ["top1"] = top1.ToString("R", CultureInfo.InvariantCulture), ["init"] = init });
        log.Write(new Dictionary<string, object?> { ["type"] = "done", ["top1"] = top1, ["elapsed_s"] = clock.Elapsed.TotalSeconds });
        Say(string.Create(CultureInfo.InvariantCulture, $"{cmd} done in {Fmt.Duration(clock.Elapsed.TotalSeconds)}: test top-1 {top1:F2} % ({init}, {train.Count} labels)"));
        return new FinetuneResult(top1, train.Count, test.Count, epochTop1, clock.Elapsed.TotalSeconds);
    }

    /// <summary>Loads a timm-style encoder file (or the encoder part of a with-decoder checkpoint) into the classifier's backbone.</summary>
    internal static void LoadEncoder(string path, Classifier model)
    {
        if (!File.Exists(path)) throw new UsageException($"--init-weight {path}: no such file.");
        var file = SafeTensors.Load(path);
        const string prefix = "sparse_encoder.sp_cnn.";
        var state = file.Tensors.Keys.Any(k => k.StartsWith(prefix, StringComparison.Ordinal))
            ? file.Tensors.Where(kv => kv.Key.StartsWith(prefix, StringComparison.Ordinal)).ToDictionary(kv => kv.Key[prefix.Length..], kv => kv.Value)
            : file.Tensors.ToDictionary(kv => kv.Key, kv => kv.Value);
        try { model.Backbone.LoadStateDict(state, strict: true); }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or InvalidDataException)
        {
            throw new InvalidDataException($"--init-weight {path} does not fit this --model/--input-size: {e.Message}");
        }
    }

    private static (Tensor X, Tensor Y) Features(Classifier model, IImageDataset set, ISampleTransform transform, FinetuneArgs o, DeviceSession device)
    {
        using var loader = new DataLoader(set, transform, new LoaderOptions { BatchSize = 128, Shuffle = false, LastBatch = LastBatch.Keep, Workers = o.Workers });
        var xs = new List<Tensor>(); var ys = new List<Tensor>();
        foreach (var b in loader.Epoch(0)) { xs.Add(model.FrozenFeatures(device.Upload(b.Images))); ys.Add(device.Upload(b.Labels!)); }
        return (Tensor.Cat(xs, 0), Tensor.Cat(ys, 0));
    }

    private static double Evaluate(Classifier model, IImageDataset set, ISampleTransform transform, FinetuneArgs o, DeviceSession device)
    {
        using var loader = new DataLoader(set, transform, new LoaderOptions { BatchSize = 128, Shuffle = false, LastBatch = LastBatch.Keep, Workers = o.Workers });
        long correct = 0, n = 0;
        foreach (var b in loader.Epoch(0)) { using (device.StepScope()) correct += Finetuner.Correct(model, device.Upload(b.Images), device.Upload(b.Labels!)); n += b.Count; }
        return 100.0 * correct / n;
    }
}
