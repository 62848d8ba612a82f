using System.Globalization;
using Sparkle.Models;
using Sparkle.Models.Spark;
using Sparkle.Nn;
using Sparkle.Tensors;

namespace Sparkle.Cli;

/// <summary>Options every model-building command shares (model, input size, threads, device, seed).</summary>
public record ModelArgs
{
    public string Model { get; init; } = "resnet18";
    public int InputSize { get; init; } = 32;
    /// <summary>null: automatic (ResNets below 128 px use the small stem, total stride 8); with --init-weight, the file's stem.</summary>
    public bool? SmallStem { get; init; }
    public int Threads { get; init; } = Environment.ProcessorCount;
    public string Device { get; init; } = "cpu";
    public ulong Seed { get; init; } = 1;

    public static readonly string[] Valued = ["model", "input-size", "small-stem", "threads", "device", "seed"];

    /// <summary>--threads was given (a distributed run otherwise shares the cores among the ranks of the machine).</summary>
    public bool ThreadsGiven { get; init; }

    public bool UseSmallStem => SmallStem ?? (Model.StartsWith("resnet", StringComparison.Ordinal) && InputSize < 128);

    /// <summary>The encoder's total stride (the SparK mask patch).</summary>
    public int DownsampleRatio => UseSmallStem ? 8 : 32;

    protected static T ParseModel<T>(T d, Args a, string command) where T : ModelArgs
    {
        var model = a.String("model", d.Model)!;
        if (!Backbones.Names.Contains(model))
            throw new UsageException($"{command}: unknown --model '{model}'. Known: {string.Join(", ", Backbones.Names)}.");
        var device = a.String("device", d.Device)!;
        if (DeviceSession.ParseName(device) is null)
            throw new UsageException($"{command}: unknown --device '{device}'. Known: cpu, cuda, opencl, ilgpu-cpu (optionally :INDEX, e.g. cuda:1).");
        var r = d with
        {
            Model = model,
            InputSize = a.Int("input-size", d.InputSize, 8),
            SmallStem = a.Has("small-stem") ? a.Bool("small-stem", false) : d.SmallStem,
            Threads = a.Int("threads", d.Threads, 1),
            Device = device,
            Seed = (ulong)a.Long("seed", (long)d.Seed),
        };
        r = InitWeight.FitStem(r, a.String("init-weight"), command);
        if (r.SmallStem == true && !model.StartsWith("resnet", StringComparison.Ordinal))
            throw new UsageException($"{command}: --small-stem exists for ResNets only.");
        if (r.InputSize % r.DownsampleRatio != 0)
            throw new UsageException($"{command}: --input-size {r.InputSize} must be a multiple of {model}'s total stride {r.DownsampleRatio}" +
                                     (r.UseSmallStem ? " (small stem)." : "."));
        return r;
    }

    public void ApplyThreads() => CpuThreads.Count = Threads;

    /// <summary>The side of the deepest feature map (the encoder's last stage) at --input-size.</summary>
    public int DeepestMap => InputSize / DownsampleRatio;

    /// <summary>Train-mode batch norm at the deepest scale needs more than one value per channel (PyTorch raises
    /// otherwise): <paramref name="imagesPerNorm"/> images (those one BN call normalises over: the per-rank batch, or the
    /// global one under SyncBN) × <paramref name="sitesPerImage"/> sites of the deepest map. ConvNeXts use LayerNorm.</summary>
    public void CheckTrainBatchNorm(string command, int imagesPerNorm, int sitesPerImage, string sitesWhat, string fix)
    {
        if (!Model.StartsWith("resnet", StringComparison.Ordinal) || (long)imagesPerNorm * sitesPerImage > 1) return;
        int f = DeepestMap;
        throw new UsageException($"{command}: the deepest feature map is {f}x{f} with {sitesPerImage} {sitesWhat} per image and " +
                                 $"{imagesPerNorm} image(s) per batch-norm call: batch norm in train mode needs more than one value per channel; {fix}.");
    }

    /// <summary>Opens --device for the run (the caller disposes it at the end).</summary>
    public DeviceSession OpenDevice(string command) => DeviceSession.Open(Device, command);

    public Module CreateBackbone(double dropPath, ulong seed, bool initialize = true, int numClasses = 0) =>
        Backbones.Create(Model, new ModelOptions { Generator = new Generator(seed), DropPath = dropPath, Initialize = initialize, NumClasses = numClasses },
            UseSmallStem);
}

/// <summary>`sparkle pretrain` options: SparK's arguments (SPARK.md §5.1) with defaults for a small run on the built-in data
/// (resnet18 small stem, 32 px, batch 32, lr 4e-3, 2 epochs over the 3,000 embedded images, decoder width 128; docs/cli.md).</summary>
public sealed record PretrainArgs : ModelArgs
{
    public double Mask { get; init; } = 0.6;
    public int BatchSize { get; init; } = 32;
    public double BaseLr { get; init; } = 0.032;
    public double Wd { get; init; } = 0.04;
    public double Wde { get; init; } = 0.2;
    public int Epochs { get; init; } = 2;
    public double WarmupEpochs { get; init; } = 0.2;
    public string Opt { get; init; } = "lamb";
    /// <summary>0: SparK's per-family default (0.95 ResNet, 0.999 ConvNeXt).</summary>
    public double Ada { get; init; }
    public double Clip { get; init; } = 5;
    /// <summary>0: the per-model default (SPARK.md §4).</summary>
    public double Dp { get; init; }
    public int DecWidth { get; init; } = 128;
    public string Output { get; init; } = Path.Combine("runs", "pretrain");
    public string? Resume { get; init; }
    public string? InitWeight { get; init; }
    public string? Data { get; init; }
    public int Workers { get; init; } = Math.Max(1, Math.Min(4, Environment.ProcessorCount - 1));
    public int LogEvery { get; init; } = 10;
    public int VisImages { get; init; } = 8;
    /// <summary>Stop (as if interrupted: checkpoint written) before this global iteration; for tests and short trials.</summary>
    public long? StopAt { get; init; }
    /// <summary>Test hook: put a NaN into the batch of this global iteration.</summary>
    public long? NanAt { get; init; }
    public bool Quiet { get; init; }
    /// <summary>--strict-images: a bad image file (truncated, CRC error) stops the run (exit 1) instead of being skipped.</summary>
    public bool StrictImages { get; init; }
    /// <summary>Data-parallel over MPI (launch with mpiexec -n N): --batch-size is the global batch (docs/distributed.md).</summary>
    public bool Distributed { get; init; }
    /// <summary>--overwrite: replace the previous run in a non-empty --output (its files of sparkle's names are removed first).</summary>
    public bool Overwrite { get; init; }

    /// <summary>The boolean flags of pretrain.</summary>
    public static readonly string[] FlagNames = ["quiet", "distributed", "overwrite", "strict-images"];

    public static readonly string[] ValuedNames = [.. Valued, "mask", "batch-size", "bs", "base-lr", "wd", "wde", "epochs", "ep", "warmup-epochs", "wp-ep",
        "opt", "ada", "clip", "dp", "dec-width", "output", "resume", "init-weight", "data", "workers", "log-every", "vis-images", "stop-at", "nan-at"];

    /// <summary>Parses and checks the options, the mask geometry included (<see cref="CheckMaskGeometry"/>).</summary>
    public static PretrainArgs Parse(IReadOnlyList<string> argv, string cmd = "pretrain")
    {
        var r = ParseOptions(argv, cmd);
        r.CheckMaskGeometry(cmd);
        return r;
    }

    /// <summary>Parses the options without the mask-geometry check (bench with a test's own model).</summary>
    internal static PretrainArgs ParseOptions(IReadOnlyList<string> argv, string cmd = "pretrain")
    {
        var a = Args.Parse(cmd, argv, ValuedNames, FlagNames);
        if (a.Positionals.Count > 0) throw new UsageException($"{cmd}: unexpected argument '{a.Positionals[0]}'.");
        var d = new PretrainArgs();
        var r = ParseModel(d, a, cmd) with
        {
            Mask = a.Double("mask", d.Mask, 0, 0.99),
            BatchSize = a.Has("bs") ? a.Int("bs", d.BatchSize, 1) : a.Int("batch-size", d.BatchSize, 1),
            BaseLr = a.Double("base-lr", d.BaseLr, 0),
            Wd = a.Double("wd", d.Wd, 0),
            Wde = a.Double("wde", d.Wde, 0),
            Epochs = a.Has("ep") ? a.Int("ep", d.Epochs, 1) : a.Int("epochs", d.Epochs, 1),
            WarmupEpochs = a.Has("wp-ep") ? a.Double("wp-ep", d.WarmupEpochs, 0) : a.Double("warmup-epochs", d.WarmupEpochs, 0),
            Opt = a.Choice("opt", d.Opt, "lamb", "adamw", "sgd"),
            Ada = a.Double("ada", d.Ada, 0, 0.99999),
            Clip = a.Double("clip", d.Clip, 0),
            Dp = a.Double("dp", d.Dp, 0, 1),
            DecWidth = a.Int("dec-width", d.DecWidth, 16),
            Output = a.String("output", d.Output)!,
            Resume = a.String("resume"),
            InitWeight = a.String("init-weight"),
            Data = a.String("data"),
            Workers = a.Int("workers", d.Workers, 0),
            LogEvery = a.Int("log-every", d.LogEvery, 1),
            VisImages = a.Int("vis-images", d.VisImages, 1),
            StopAt = a.Has("stop-at") ? a.Long("stop-at", 0) : null,
            NanAt = a.Has("nan-at") ? a.Long("nan-at", 0) : null,
            Quiet = a.Bool("quiet", false),
            StrictImages = a.Bool("strict-images", false),
            Distributed = a.Bool("distributed", false),
            Overwrite = a.Bool("overwrite", false),
            ThreadsGiven = a.Has("threads"),
        };
        if (r.DecWidth % 16 != 0) throw new UsageException($"{cmd}: --dec-width must be a multiple of 16 (it halves per decoder block), got {r.DecWidth}.");
        if (r.WarmupEpochs >= r.Epochs) throw new UsageException($"{cmd}: --warmup-epochs ({r.WarmupEpochs}) must be below --epochs ({r.Epochs}).");
        if (r.Resume is not null && r.InitWeight is not null) throw new UsageException($"{cmd}: give --resume or --init-weight, not both.");
        if (r.Resume is not null && r.Overwrite) throw new UsageException($"{cmd}: give --resume (continue the run in --output) or --overwrite (replace it), not both.");
        return r;
    }

    /// <summary>The mask grid side (input size / total stride) and the visible patches per image (SparK's len_keep).</summary>
    public int Grid => InputSize / DownsampleRatio;
    public int LenKeep => Sparkle.Models.Spark.MaskSampler.LenKeep(Grid, Mask);

    /// <summary>SparK needs at least one visible patch (the encoder's input) and one masked patch (the loss's) per image,
    /// and train-mode BN at the deepest scale more than one visible site over the batch (SyncBN: the global batch).</summary>
    public void CheckMaskGeometry(string cmd)
    {
        int patches = Grid * Grid, keep = LenKeep;
        string geometry = string.Create(CultureInfo.InvariantCulture,
            $"--input-size {InputSize} gives {Model}{(UseSmallStem ? " (small stem)" : "")} a {Grid}x{Grid} mask grid of {DownsampleRatio} px patches");
        if (patches < 2)
            throw new UsageException($"{cmd}: {geometry}: SparK needs at least 2 patches per image (one visible, one masked); " +
                                     $"use --input-size {2 * DownsampleRatio} or more.");
        if (keep < 1)
            throw new UsageException(string.Create(CultureInfo.InvariantCulture,
                $"{cmd}: --mask {Mask} leaves no visible patch of the {patches} per image ({geometry}); the encoder would see nothing. Use --mask {Math.Floor((1 - 0.5 / patches) * 100) / 100} or less."));
        if (keep >= patches)
            throw new UsageException(string.Create(CultureInfo.InvariantCulture,
                $"{cmd}: --mask {Mask} masks none of the {patches} patches per image ({geometry}), so the loss (over masked patches) would be 0. Use --mask {Math.Ceiling(0.5 / patches * 100) / 100} or more."));
        CheckTrainBatchNorm(cmd, BatchSize, keep, $"visible site(s) (--mask {Mask.ToString(CultureInfo.InvariantCulture)})", "use a larger --batch-size or a lower --mask");
    }

    public double Beta2 => Ada > 0 ? Ada : Model.StartsWith("convnext", StringComparison.Ordinal) ? 0.999 : 0.95;
    public double DropPath => Dp > 0 ? Dp : Model.StartsWith("resnet", StringComparison.Ordinal) ? ResNet.PretrainDropPath(Model) : ConvNeXt.PretrainDropPath(Model);
    public double PeakLr => BaseLr * BatchSize / 256;

    public string EncoderFileName => $"{Model}_1kpretrained_timm_style.safetensors";
    public string WithDecoderFileName => $"{Model}_withdecoder_1kpretrained_spark_style.safetensors";

    public SparkModel CreateSpark()
    {
        var backbone = CreateBackbone(DropPath, Seed);
        return new SparkModel((IHierarchicalEncoder)backbone, InputSize, Mask, DecWidth,
            Model.StartsWith("convnext", StringComparison.Ordinal) ? DensifyNorm.LayerNorm : DensifyNorm.BatchNorm,
            generator: new Generator(Seed + 1));
    }

    public string Describe() => string.Create(CultureInfo.InvariantCulture,
        $"{Model}{(UseSmallStem ? " (small stem)" : "")} {InputSize}px, mask {Mask}, batch {BatchSize}, lr {PeakLr:G3} (base {BaseLr:G3}), {Opt}, {Epochs} epochs (warm-up {WarmupEpochs}), decoder width {DecWidth}, {Threads} threads");
}
