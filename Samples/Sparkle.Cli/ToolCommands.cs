using System.Globalization;
using System.Text.Json;
using Sparkle.Data;
using Sparkle.Models.Spark;
using Sparkle.Models.Training;
using Sparkle.Nn.Optim;
using Sparkle.Nn.Serialization;
using Sparkle.Tensors;

namespace Sparkle.Cli;

/// <summary>reconstruct, export, info, bench.</summary>
public static class ToolCommands
{
    /// <summary>Rebuilds the pretrain arguments a with-decoder checkpoint was written with (its metadata).</summary>
    internal static PretrainArgs ArgsOf(string checkpoint, string command)
    {
        var header = InputFiles.WithDecoder(checkpoint, "checkpoint", command);
        if (!header.Metadata.TryGetValue(PretrainCommand.ArgsKey, out var json))
            throw CliError.Input($"checkpoint {checkpoint}: no '{PretrainCommand.ArgsKey}' metadata; not a checkpoint written by sparkle pretrain.");
        try
        {
            return JsonSerializer.Deserialize<PretrainArgs>(json) ?? throw new JsonException("null");
        }
        catch (JsonException e)
        {
            throw CliError.Input($"checkpoint {checkpoint}: unreadable '{PretrainCommand.ArgsKey}' metadata ({e.Message}).", e);
        }
    }

    /// <summary>`sparkle reconstruct CHECKPOINT [--images N] [--data SPEC] [--output FILE] [--seed S] [--strict-images]`;
    /// <paramref name="errors"/> (stderr by default) gets the data warnings (skipped images).</summary>
    public static string Reconstruct(IReadOnlyList<string> argv, TextWriter console, TextWriter? errors = null)
    {
        var a = Args.Parse("reconstruct", argv, ["checkpoint", "images", "data", "output", "seed", "threads"], ["strict-images"]);
        string checkpoint = a.String("checkpoint") ?? (a.Positionals.Count == 1 ? a.Positionals[0]
            : throw new UsageException("reconstruct: give the with-decoder checkpoint: sparkle reconstruct PATH [--images N] [--output FILE]"));
        var o = ArgsOf(checkpoint, "reconstruct") with { Threads = a.Int("threads", Environment.ProcessorCount, 1), Seed = (ulong)a.Long("seed", 1) };
        int rows = a.Int("images", 8, 1);
        o.ApplyThreads();
        var model = InputFiles.Load(checkpoint, "checkpoint", o.CreateSpark);
        InputFiles.Load(checkpoint, "checkpoint", () => SparkCheckpoint.LoadWithDecoder(checkpoint, model, null));
        var source = DataSources.Open(a.String("data", o.Data), (errors ?? Console.Error).WriteLine, a.Bool("strict-images", false));
        var (images, mask) = PretrainCommand.VisualBatch(source, o, model, rows);
        string output = a.String("output") ?? Path.Combine(Path.GetDirectoryName(Path.GetFullPath(checkpoint))!, "reconstruct.png");
        PretrainCommand.SavePictures(model, images, mask, output);
        console.WriteLine($"wrote {output}: {images.Size(0)} rows of input | masked ({o.Mask:P0} of {o.DownsampleRatio}x{o.DownsampleRatio} patches hidden) | reconstruction");
        return output;
    }

    /// <summary>`sparkle export CHECKPOINT [--output FILE]`: the timm-style encoder (backbone keys only) of a with-decoder checkpoint.</summary>
    public static string Export(IReadOnlyList<string> argv, TextWriter console)
    {
        var a = Args.Parse("export", argv, ["checkpoint", "output"]);
        string checkpoint = a.String("checkpoint") ?? (a.Positionals.Count == 1 ? a.Positionals[0]
            : throw new UsageException("export: give the with-decoder checkpoint: sparkle export PATH [--output FILE]"));
        var o = ArgsOf(checkpoint, "export");
        var model = InputFiles.Load(checkpoint, "checkpoint", o.CreateSpark);
        InputFiles.Load(checkpoint, "checkpoint", () => SparkCheckpoint.LoadWithDecoder(checkpoint, model, null));
        string output = a.String("output") ?? Path.Combine(Path.GetDirectoryName(Path.GetFullPath(checkpoint))!, o.EncoderFileName);
        SparkCheckpoint.SaveEncoder(output, model, new Dictionary<string, string> { ["arch"] = o.Model, [PretrainCommand.ArgsKey] = JsonSerializer.Serialize(o) });
        console.WriteLine($"wrote {output}: {model.Encoder.StateDict().Count} tensors, {model.Encoder.NumParameters():N0} parameters ({o.Model}, timm keys)");
        return output;
    }

    /// <summary>`sparkle info [--model M] [--input-size S] [--dec-width W] [--shapes]`.</summary>
    public static void Info(IReadOnlyList<string> argv, TextWriter console)
    {
        var a = Args.Parse("info", argv, [.. ModelArgs.Valued, "dec-width", "mask"], ["shapes"]);
        var o = PretrainArgs.Parse(argv.Where(s => s != "--shapes").ToList()) with { Threads = 1 };
        var backbone = o.CreateBackbone(0, o.Seed, initialize: false);
        var spark = new SparkModel((Sparkle.Models.IHierarchicalEncoder)o.CreateBackbone(0, o.Seed, initialize: false), o.InputSize, o.Mask, o.DecWidth, initialize: false);
        var enc = (Sparkle.Models.IHierarchicalEncoder)backbone;
        console.WriteLine($"{o.Model}{(o.UseSmallStem ? " (small stem)" : "")}: {backbone.NumParameters():N0} parameters, {backbone.StateDict().Count} state tensors (timm-style encoder file)");
        int s = o.InputSize;
        var maps = string.Join(", ", enc.FeatureMapChannels.Select((c, i) => $"{c}x{s / (o.DownsampleRatio >> (enc.FeatureMapChannels.Count - 1 - i))}²"));
        console.WriteLine($"  at {s}px: total stride {o.DownsampleRatio}, feature maps {maps}");
        console.WriteLine($"SparK {o.Model} {s}px, decoder width {o.DecWidth}: {spark.NumParameters():N0} parameters " +
                          $"({spark.NumParameters() - spark.Encoder.NumParameters():N0} decoder + densify), mask grid {spark.Grid}x{spark.Grid} of {spark.Patch}px patches");
        var groups = ParamGroups.Split(spark);
        console.WriteLine($"  param groups: {string.Join(", ", groups.Select(g => $"{g.Name} {g.Parameters.Count} tensors"))}");
        if (a.Has("shapes"))
            foreach (var (k, v) in backbone.StateDict()) console.WriteLine($"  {k} {ShapeUtil.Format(v.Shape)}");
    }

    /// <summary>The pretrain options that shape a bench step; the others (data, output, schedule length, logging) would
    /// be silently ignored, so bench refuses them.</summary>
    internal static readonly string[] BenchOptions = [.. ModelArgs.Valued, "mask", "batch-size", "bs", "base-lr", "opt", "ada", "clip", "dp", "dec-width"];

    /// <summary>`sparkle bench [pretrain options] [--reps N]`: timed <see cref="Pretrainer"/> steps (the step pretrain runs:
    /// schedule, mask, forward, loss, backward, clipping, update, memory scopes) on random data after one warm-up step, then
    /// the device's per-step counters over the timed steps (<see cref="Sparkle.Tensors.Backend.StepCounters"/>).</summary>
    public static void Bench(IReadOnlyList<string> argv, TextWriter console) => Bench(argv, console, null);

    /// <param name="createSpark">Tests: builds the model instead of --model (a tiny one, so a run on ILGPU's CPU simulator
    /// fits in a test); everything else is the command's.</param>
    internal static void Bench(IReadOnlyList<string> argv, TextWriter console, Func<SparkModel>? createSpark)
    {
        var a = Args.Parse("bench", argv, [.. BenchOptions, "reps"]);
        if (a.Positionals.Count > 0) throw new UsageException($"bench: unexpected argument '{a.Positionals[0]}'.");
        int reps = a.Int("reps", 5, 1);
        var list = argv.ToList();
        int at = list.FindIndex(s => s == "--reps" || s.StartsWith("--reps=", StringComparison.Ordinal));
        if (at >= 0) list.RemoveRange(at, list[at] == "--reps" ? 2 : 1);
        // A test's own model (createSpark) has its own geometry: the mask checks are pretrain's --model's.
        var o = createSpark is null ? PretrainArgs.Parse(list, "bench") : PretrainArgs.ParseOptions(list, "bench");
        o.ApplyThreads();
        using var device = o.OpenDevice("bench");
        var model = createSpark?.Invoke() ?? o.CreateSpark();
        model.To(device.Device);
        var trainer = new Pretrainer(model, new PretrainOptions
        {
            Epochs = 1, WarmupEpochs = 0, BatchSize = o.BatchSize, BaseLr = o.BaseLr, Optimizer = o.Opt, Beta2 = o.Beta2, Clip = o.Clip, Seed = o.Seed,
        }, reps + 1);
        var images = device.Upload(Tensor.Randn([o.BatchSize, 3, o.InputSize, o.InputSize], new Generator(o.Seed + 5)));
        var t = StepTimer.Run(trainer, images, warmup: 2, reps);   // steady state from step 3 (docs/gpu.md, "Per-step counters")
        double median = t.MedianMs;
        console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"bench spark {o.Model}{(o.UseSmallStem ? "-small" : "")} {o.InputSize}px b{o.BatchSize} mask {o.Mask} dec {o.DecWidth} {o.Threads} threads {device.Device}: step median {median:F1} ms, min {t.MinMs:F1} ms, {o.BatchSize / median * 1000:F1} img/s, loss {t.LastLoss:F4}"));
        console.WriteLine(t.Counters.ToString());
        // One key=value line for scripts (Samples/GpuCheck/gpu-session.sh parses it beside torch/spark_step.py's line).
        // tf32_env: SPARKLE_TF32 as this process saw it (0 = exact FP32 on CUDA; unset = the backend's default).
        console.WriteLine(ResultLine(o, device.Device, t));
    }

    /// <summary><c>bench_result model=M input=N batch=B small_stem=0|1 dec_width=W device=D tf32_env=V step_ms=X min_ms=X
    /// img_s=X peak_mb=N launches_per_step=N loss=X</c>: the step median and minimum over the timed steps, images per
    /// second at the median, and the device's peak MiB in use over the timed steps (<see cref="Sparkle.Tensors.Backend.StepCounters.DevicePeakMb"/>).</summary>
    internal static string ResultLine(PretrainArgs o, Device device, StepTimings t) => string.Create(CultureInfo.InvariantCulture,
        $"bench_result model={o.Model} input={o.InputSize} batch={o.BatchSize} small_stem={(o.UseSmallStem ? 1 : 0)} dec_width={o.DecWidth} device={device} " +
        $"tf32_env={Environment.GetEnvironmentVariable("SPARKLE_TF32") ?? "unset"} step_ms={t.MedianMs:F1} min_ms={t.MinMs:F1} " +
        $"img_s={o.BatchSize / t.MedianMs * 1000:F2} peak_mb={t.Counters.DevicePeakMb} launches_per_step={t.Counters.LaunchesPerStep} loss={t.LastLoss:F4}");
}
