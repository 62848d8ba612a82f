using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Sparkle.Data;
using Sparkle.Models.Spark;
using Sparkle.Models.Training;
using Sparkle.Nn.Parallel;
using Sparkle.Nn.Serialization;
using Sparkle.Tensors;

namespace Sparkle.Cli;

/// <summary>What a pretrain run did (for the caller and the tests).</summary>
public sealed record PretrainResult(
    string OutputDir,
    IReadOnlyList<double> StepLosses,
    long StartIteration,
    long EndIteration,
    bool Completed,
    bool Interrupted,
    bool NonFinite,
    double Seconds)
{
    public const int ExitNonFinite = ExitCodes.NonFiniteLoss;
    /// <summary>Set when the run did not start (a bad distributed launch, said by rank 0).</summary>
    public int? FailureExit { get; init; }
    /// <summary>Stopped by Ctrl+C (not by the test hook --stop-at): exit 130 after the checkpoint.</summary>
    public bool Signalled { get; init; }
    public int ExitCode => FailureExit ?? (NonFinite ? ExitNonFinite : Signalled ? ExitCodes.Interrupted : ExitCodes.Ok);
}

/// <summary>
/// `sparkle pretrain`: SparK pre-training with <see cref="Pretrainer"/> (schedule, masks, NaN stop, exact resume), fed by
/// the <see cref="DataLoader"/> (SparK transform, background workers). Writes to the output folder: log.jsonl, loss.svg,
/// reconstruction-epNNN.png per epoch, and both checkpoints per epoch (atomically).
/// </summary>
public static class PretrainCommand
{
    public const string LogFile = "log.jsonl";
    public const string LossChart = "loss.svg";
    /// <summary>Metadata key with the arguments needed to rebuild the model (reconstruct, export).</summary>
    public const string ArgsKey = "sparkle_args";

    public static string PictureFile(int epoch) => $"reconstruction-ep{epoch:D3}.png";

    /// <summary>Runs the command; <paramref name="errors"/> (stderr by default) gets the data warnings (skipped images).</summary>
    public static PretrainResult Run(PretrainArgs o, TextWriter console, CancellationToken cancel = default, TextWriter? errors = null)
    {
        return DistributedRun.Launch(o.Distributed, "pretrain", o.BatchSize,
            group => Run(o with { Threads = DistributedRun.Threads(o, o.ThreadsGiven, group) }, console, errors ?? Console.Error, cancel, group),
            () => new PretrainResult(o.Output, [], 0, 0, false, false, false, 0) { FailureExit = 2 }, resume: o.Resume);
    }

    /// <summary>The run as rank <c>group.Rank</c> of <c>group.Size</c>: every rank trains on its part of each global
    /// batch; only rank 0 prints, logs, draws and writes checkpoints.</summary>
    private static PretrainResult Run(PretrainArgs o, TextWriter console, TextWriter errors, CancellationToken cancel, ICommunicator group)
    {
        o.ApplyThreads();
        bool lead = group.Rank == 0;
        void Say(string s) { if (!o.Quiet && lead) console.WriteLine(s); }
        // Up-front checks, before any data is read or model built: the input files' headers, then the run folder.
        if (o.Resume is not null) InputFiles.WithDecoder(o.Resume, "--resume", "pretrain --resume");
        if (o.InitWeight is not null) InputFiles.Header(o.InitWeight, "--init-weight");
        if (lead) RunFolder.Prepare(o.Output, "pretrain", resume: o.Resume is not null, o.Overwrite, Say);

        var source = DataSources.Open(o.Data, msg => { if (lead) errors.WriteLine(msg); }, o.StrictImages);
        if (source.Train.Count == 0) throw new UsageException($"pretrain: the data set '{o.Data}' holds no images.");
        using var device = o.OpenDevice("pretrain");
        var model = o.CreateSpark();
        model.To(device.Device);                                  // parameters and buffers in place, before the optimizer exists
        using var loader = new DataLoader(source.Train, new PretrainTransform(o.InputSize),
            new LoaderOptions { BatchSize = o.BatchSize, Seed = o.Seed, Workers = o.Workers, Prefetch = 4, Rank = group.Rank, WorldSize = group.Size });
        long ipe = loader.IterationsPerEpoch;
        var trainer = new Pretrainer(model, new PretrainOptions
        {
            Epochs = o.Epochs, WarmupEpochs = o.WarmupEpochs, BatchSize = o.BatchSize, BaseLr = o.BaseLr, WeightDecay = o.Wd,
            WeightDecayEnd = o.Wde, Optimizer = o.Opt, Beta2 = o.Beta2, Clip = o.Clip, Seed = o.Seed,
        }, ipe, group);

        var history = new List<(long It, double Loss)>();        // log points, for the chart
        var epochLosses = new List<double>();                     // epoch means
        string withDecoder = Path.Combine(o.Output, o.WithDecoderFileName);
        string encoderPath = Path.Combine(o.Output, o.EncoderFileName);
        if (o.Resume is not null)
        {
            var meta = InputFiles.Load(o.Resume, "--resume", () => trainer.Resume(o.Resume));
            if (meta.TryGetValue("iters_per_epoch", out var saved) && long.Parse(saved, CultureInfo.InvariantCulture) != ipe)
                throw new UsageException($"pretrain: --resume {o.Resume}: the checkpoint had {saved} iterations per epoch, this run has {ipe} " +
                                         "(same --data and --batch-size are needed for an exact resume).");
            InputFiles.Load(o.Resume, "--resume", () =>
            {
                if (meta.TryGetValue("loss_history", out var h)) history.AddRange(ParseHistory(h));
                if (meta.TryGetValue("epoch_losses", out var el) && el.Length > 0)
                    epochLosses.AddRange(el.Split(',').Select(s => double.Parse(s, CultureInfo.InvariantCulture)));
            });
            Say($"resumed from {o.Resume} at iteration {trainer.Iteration} (epoch {trainer.Epoch + 1}, step {trainer.Iteration % ipe + 1})");
        }
        else if (o.InitWeight is not null)
        {
            InputFiles.Load(o.InitWeight, "--init-weight", () => LoadInitWeight(o.InitWeight, model, o.Model, Say));
            Say($"initial weights from {o.InitWeight}");
        }

        var vis = VisualBatch(source, o, model);
        vis = (device.Upload(vis.Images), device.Upload(vis.Mask));
        using var log = lead ? new RunLog(Path.Combine(o.Output, LogFile), append: o.Resume is not null) : null;
        var summary = lead ? new SummaryCsv(o.Output, ["epoch", "train_loss", "lr", "epoch_s"], append: o.Resume is not null) : null;
        log?.Write(new Dictionary<string, object?>
        {
            ["type"] = "config", ["name"] = "sparkle pretrain", ["cmd"] = Environment.CommandLine, ["model"] = o.Model,
            ["args"] = JsonSerializer.SerializeToElement(o), ["data"] = source.Description, ["train_images"] = source.Train.Count,
            ["iters_per_epoch"] = ipe, ["peak_lr"] = o.PeakLr, ["beta2"] = o.Beta2, ["drop_path"] = o.DropPath,
            ["params"] = model.NumParameters(), ["encoder_params"] = model.Encoder.NumParameters(),
            ["resumed_from"] = o.Resume, ["start_iteration"] = trainer.Iteration, ["world_size"] = group.Size, ["time"] = DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture),
        });
        Say($"sparkle pretrain: {o.Describe()}");
        Say($"data: {source.Description}; {ipe} iterations per epoch; output: {Path.GetFullPath(o.Output)}");
        if (group.Size > 1) Say($"distributed: {group.Description}; {trainer.LocalBatchSize} images per rank per step, SyncBN, {o.Threads} thread(s) per rank");
        Say($"model: SparK {o.Model}, {model.Encoder.NumParameters():N0} encoder + {model.NumParameters() - model.Encoder.NumParameters():N0} decoder/densify parameters");

        long start = trainer.Iteration, total = trainer.TotalIterations;
        var losses = new List<double>();
        var clock = new StepClock();                              // elapsed time and the ETA (a moving average past the warm-up)
        var interval = Stopwatch.StartNew();
        var epochClock = Stopwatch.StartNew();
        double intervalSum = 0; int intervalCount = 0, intervalImages = 0;
        double epochSum = 0; int epochCount = 0;                 // the current epoch's losses so far (saved in mid-epoch checkpoints)
        if (o.Resume is not null && start % ipe != 0)
        {
            var m = SafeTensors.ReadHeader(o.Resume).Metadata;
            epochSum = m.TryGetValue("epoch_loss_sum", out var es) ? double.Parse(es, CultureInfo.InvariantCulture) : double.NaN;
            epochCount = m.TryGetValue("epoch_loss_count", out var ec) ? int.Parse(ec, CultureInfo.InvariantCulture) : 0;
        }
        bool interrupted = false, nonFinite = false, signalled = false;
        var meta0 = new Dictionary<string, string>
        {
            [ArgsKey] = JsonSerializer.Serialize(o), ["iters_per_epoch"] = ipe.ToString(CultureInfo.InvariantCulture), ["arch"] = o.Model,
            ["input_size"] = o.InputSize.ToString(CultureInfo.InvariantCulture),
        };
        Dictionary<string, string> Meta()
        {
            var m = new Dictionary<string, string>(meta0)
            {
                ["loss_history"] = string.Join(",", history.Select(p => $"{p.It}:{p.Loss.ToString("R", CultureInfo.InvariantCulture)}")),
                ["epoch_losses"] = string.Join(",", epochLosses.Select(v => v.ToString("R", CultureInfo.InvariantCulture))),
            };
            m["epoch_loss_sum"] = epochSum.ToString("R", CultureInfo.InvariantCulture);
            m["epoch_loss_count"] = epochCount.ToString(CultureInfo.InvariantCulture);
            if (epochLosses.Count > 0) m["performance_desc"] = string.Create(CultureInfo.InvariantCulture, $"{epochLosses.Min():F4} {epochLosses[^1]:F4}");
            return m;
        }

        foreach (var batch in loader.Batches((int)(start / ipe), (int)(start % ipe), o.Epochs))
        {
            // Every rank stops at the same step: a Ctrl+C that reached one rank first stops all of them
            // (2 = Ctrl+C, exit 130; 1 = the --stop-at test hook, exit 0).
            double stopKind = cancel.IsCancellationRequested ? 2 : o.StopAt is { } stop && trainer.Iteration >= stop ? 1 : 0;
            if (group.Size > 1)
            {
                Span<double> flag = [stopKind];
                group.AllReduceMax(flag);
                stopKind = flag[0];
            }
            if (stopKind > 0)
            {
                signalled = stopKind == 2;
                if (lead) trainer.SaveCheckpoint(withDecoder, Meta());
                log?.Write(new Dictionary<string, object?> { ["type"] = "interrupted", ["iteration"] = trainer.Iteration, ["checkpoint"] = withDecoder, ["by"] = signalled ? "ctrl+c" : "--stop-at" });
                Say($"interrupted at iteration {trainer.Iteration}: checkpoint written to {withDecoder}; continue with --resume {withDecoder}");
                interrupted = true;
                break;
            }
            var images = batch.Images;
            if (o.NanAt == trainer.Iteration) images.Set(float.NaN, 0, 0, 0, 0);
            double loss;
            try
            {
                loss = trainer.Step(device.Upload(images));       // opens the device's step scope itself
            }
            catch (NonFiniteLossException e)
            {
                log?.Write(new Dictionary<string, object?> { ["type"] = "non_finite_loss", ["iteration"] = e.Iteration, ["message"] = e.Message });
                if (lead) console.WriteLine($"sparkle pretrain: {e.Message}" + (File.Exists(withDecoder) ? $" Last good checkpoint: {withDecoder}." : " No checkpoint had been written yet."));
                nonFinite = true;
                break;
            }
            losses.Add(loss);
            clock.Step();
            intervalSum += loss; intervalCount++; intervalImages += batch.Count * group.Size;   // the global batch
            epochSum += loss; epochCount++;
            long it = trainer.Iteration;                          // steps done
            bool epochEnd = it % ipe == 0;
            if (it % o.LogEvery == 0 || epochEnd || it == start + 1)
            {
                double mean = intervalSum / intervalCount, secs = interval.Elapsed.TotalSeconds;
                double ips = intervalImages / Math.Max(secs, 1e-9);
                double? eta = clock.Eta(total - it);
                history.Add((it, mean));
                log?.Write(new Dictionary<string, object?>
                {
                    ["type"] = "step", ["epoch"] = batch.Epoch + 1, ["step"] = batch.Iteration + 1, ["iteration"] = it, ["loss"] = mean,
                    ["lr"] = trainer.LastLr, ["wd"] = trainer.LastWd, ["grad_norm"] = trainer.LastGradNorm, ["images_per_s"] = ips,
                    ["eta_s"] = eta, ["allreduce_s"] = group.Size > 1 ? trainer.LastAllReduceSeconds : null,
                    ["backward_s"] = group.Size > 1 ? trainer.LastBackwardSeconds : null,
                    ["allreduce_exposed_s"] = group.Size > 1 ? trainer.LastAllReduceExposedSeconds : null,
                });
                Say(string.Create(CultureInfo.InvariantCulture,
                    $"ep {batch.Epoch + 1}/{o.Epochs} step {batch.Iteration + 1}/{ipe}  loss {mean:F4}  lr {trainer.LastLr:E2}  wd {trainer.LastWd:F3}  |g| {trainer.LastGradNorm:F3}  {ips:F1} img/s  ETA {Fmt.Duration(eta ?? double.NaN)}"));
                intervalSum = 0; intervalCount = 0; intervalImages = 0; interval.Restart();
            }
            if (epochEnd)
            {
                int epoch = batch.Epoch + 1;
                double epochMean = epochSum / epochCount;              // NaN only for a resume from a checkpoint without the sums
                if (double.IsFinite(epochMean)) epochLosses.Add(epochMean);
                epochSum = 0; epochCount = 0;
                string picture = Path.Combine(o.Output, PictureFile(epoch));
                if (!lead) continue;                                   // rank 0 alone draws, writes and logs
                SavePictures(model, vis.Images, vis.Mask, picture);
                Fmt.WriteTextAtomically(Path.Combine(o.Output, LossChart), SvgLineChart.Render($"SparK {o.Model} pre-training loss",
                    [new SvgLineChart.Series("loss", history.Select(p => (double)p.It).ToArray(), history.Select(p => p.Loss).ToArray())],
                    "iteration", "loss"));
                trainer.SaveCheckpoint(withDecoder, Meta());
                SparkCheckpoint.SaveEncoder(encoderPath, model, new Dictionary<string, string> { ["arch"] = o.Model, ["epoch"] = epoch.ToString(CultureInfo.InvariantCulture), [ArgsKey] = JsonSerializer.Serialize(o) });
                double elapsed = clock.Elapsed, rema = clock.Eta(total - it) ?? elapsed / (it - start) * (total - it);
                summary!.Write(epoch, double.IsFinite(epochMean) ? epochMean : null, trainer.LastLr, epochClock.Elapsed.TotalSeconds);
                epochClock.Restart();
                log!.Write(new Dictionary<string, object?>
                {
                    ["type"] = "epoch", ["cur_ep"] = $"{epoch}/{o.Epochs}", ["last_L"] = double.IsFinite(epochMean) ? epochMean : null,
                    ["min_L"] = epochLosses.Count > 0 ? epochLosses.Min() : null, ["rema"] = Fmt.Duration(rema),
                    ["fini"] = DateTime.UtcNow.AddSeconds(rema).ToString("u", CultureInfo.InvariantCulture), ["elapsed_s"] = elapsed,
                    ["picture"] = Path.GetFileName(picture),
                });
                Say(string.Create(CultureInfo.InvariantCulture,
                    $"epoch {epoch}/{o.Epochs} done: mean loss {(double.IsFinite(epochMean) ? epochMean.ToString("F4", CultureInfo.InvariantCulture) : "(partial)")}, {Fmt.Duration(elapsed)} elapsed, checkpoints and {Path.GetFileName(picture)} written"));
            }
        }
        bool completed = !interrupted && !nonFinite && trainer.Iteration >= total;
        if (completed)
        {
            log?.Write(new Dictionary<string, object?> { ["type"] = "done", ["iteration"] = trainer.Iteration, ["elapsed_s"] = clock.Elapsed });
            Say($"done in {Fmt.Duration(clock.Elapsed)}: {o.WithDecoderFileName} (resume/reconstruct), {o.EncoderFileName} (finetune --init-weight), {LossChart}, {SummaryCsv.FileName}, {LogFile}");
        }
        return new PretrainResult(o.Output, losses, start, trainer.Iteration, completed, interrupted, nonFinite, clock.Elapsed) { Signalled = signalled };
    }

    internal static IEnumerable<(long, double)> ParseHistory(string s) => s.Length == 0 ? [] : s.Split(',').Select(p =>
    {
        int c = p.IndexOf(':', StringComparison.Ordinal);
        return (long.Parse(p[..c], CultureInfo.InvariantCulture), double.Parse(p[(c + 1)..], CultureInfo.InvariantCulture));
    });

    /// <summary>--init-weight: a with-decoder checkpoint (its encoder, and the decoder where it fits) or an encoder file
    /// (ours, timm's, torchvision's; <see cref="InitWeight"/>).</summary>
    internal static void LoadInitWeight(string path, SparkModel model, string arch, Action<string> say)
    {
        var file = InitWeight.Read(path);
        InitWeight.Load(path, file, model.Encoder, arch, say);
        if (!file.Tensors.Keys.Any(k => k.StartsWith("sparse_encoder.", StringComparison.Ordinal))) return;
        var decoder = file.Tensors.Where(kv => !kv.Key.StartsWith("sparse_encoder.", StringComparison.Ordinal) && !kv.Key.StartsWith("optimizer.", StringComparison.Ordinal))
            .ToDictionary(kv => kv.Key, kv => kv.Value);                // decoder, densify layers, mask tokens
        try { model.LoadStateDict(decoder, strict: false); }
        catch (InvalidOperationException e)
        {
            throw new InvalidDataException($"--init-weight {path}: the decoder part does not fit this model (--dec-width, --input-size?): {e.Message.ReplaceLineEndings(" ")}", e);
        }
    }

    /// <summary>The fixed images and mask of the per-epoch pictures: the first N test images (train when none), eval transform.</summary>
    internal static (Tensor Images, Tensor Mask) VisualBatch(DataSource source, ModelArgs o, SparkModel model, int? count = null)
    {
        var set = source.Test is { Count: > 0 } t ? t : source.Train;
        int n = Math.Min(count ?? (o as PretrainArgs)?.VisImages ?? 8, set.Count);
        using var l = new DataLoader(set, new EvalTransform(o.InputSize), new LoaderOptions { BatchSize = n, Shuffle = false, Workers = 0, LastBatch = LastBatch.Drop });
        var images = l.GetBatch(0, 0).Images;
        return (images, model.SampleMask(n, new Generator(o.Seed + 1000)));
    }

    /// <summary>input | masked | reconstruction, de-normalised, BN in eval mode (no side effects on the training state).</summary>
    internal static void SavePictures(SparkModel model, Tensor images, Tensor mask, string path)
    {
        bool training = model.Training;
        model.Eval();
        try
        {
            var (input, masked, composite) = model.Visualize(images, mask);
            (input, masked, composite) = (input.To(Device.Cpu), masked.To(Device.Cpu), composite.To(Device.Cpu));
            PngWriter.SaveGrid(path, [input, masked, composite], Normalization.ImageNet, padding: 2, maxRows: images.Size(0));
        }
        finally { model.Train(training); }
    }
}
