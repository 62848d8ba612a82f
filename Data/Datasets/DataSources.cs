namespace Sparkle.Data;

/// <summary>A training set, an optional evaluation set, and a line saying where they came from.</summary>
public sealed record DataSource(string Description, IImageDataset Train, IImageDataset? Test);

/// <summary>
/// What the <c>sparkle</c> command's <c>--data</c> value means:
/// <list type="bullet">
/// <item>absent, "builtin" or "fashion-mnist-mini": the embedded Fashion-MNIST subset (works anywhere);</item>
/// <item>"fashion-mnist": the full set at <see cref="FashionMnist.DefaultPath"/> (Debian's package);</item>
/// <item>a directory holding the four Fashion-MNIST IDX files: the full set from there;</item>
/// <item>a directory with a <c>train/</c> sub-folder: ImageFolder(train) (labels kept; SparK pre-training ignores them),
/// plus ImageFolder(val) when a <c>val/</c> sub-folder exists;</item>
/// <item>any other directory: ImageFolder of it (class sub-folders, or one flat unlabeled folder).</item>
/// </list>
/// Image folders leave out files that fail <see cref="ImageIntegrity"/> (one log line each, then one summary line,
/// "skipped 3 of 265 files: 2 truncated JPEG, 1 bad PNG CRC"); with <c>strictImages</c> the first one throws.
/// </summary>
public static class DataSources
{
    public const string Builtin = "fashion-mnist-mini";

    public static DataSource Open(string? spec, Action<string>? log = null, bool strictImages = false)
    {
        if (string.IsNullOrWhiteSpace(spec) || spec is "builtin" or Builtin)
        {
            var (tr, te) = FashionMnist.LoadEmbedded();
            return new DataSource($"Fashion-MNIST subset (embedded, {tr.Count} train / {te.Count} test; {FashionMnist.Citation})", tr, te);
        }
        if (spec == "fashion-mnist")
        {
            var (tr, te) = FashionMnist.Load(FashionMnist.DefaultPath);
            return new DataSource($"Fashion-MNIST ({FashionMnist.DefaultPath}, {tr.Count} train / {te.Count} test; {FashionMnist.Citation})", tr, te);
        }
        if (!Directory.Exists(spec))
            throw new DirectoryNotFoundException($"--data {spec}: no such directory (use fashion-mnist, {Builtin}, or a folder of images).");
        if (FashionMnist.Exists(spec))
        {
            var (tr, te) = FashionMnist.Load(spec);
            return new DataSource($"Fashion-MNIST ({spec}, {tr.Count} train / {te.Count} test; {FashionMnist.Citation})", tr, te);
        }
        var train = Path.Combine(spec, "train");
        if (Directory.Exists(train))
        {
            var val = Path.Combine(spec, "val");
            var trainSet = new ImageFolder(train, log: log, strict: strictImages);
            var valSet = Directory.Exists(val) ? new ImageFolder(val, log: log, strict: strictImages) : null;
            Report(log, valSet is null ? [trainSet] : [trainSet, valSet]);
            return new DataSource($"ImageFolder {trainSet.Root} ({trainSet.Count} images, {trainSet.Classes.Count} classes)" +
                                  (valSet is null ? "" : $", val {valSet.Count}"), trainSet, valSet);
        }
        var set = new ImageFolder(spec, log: log, strict: strictImages);
        Report(log, [set]);
        return new DataSource($"ImageFolder {set.Root} ({set.Count} images, {set.Classes.Count} classes)", set, null);
    }

    private static void Report(Action<string>? log, ImageFolder[] folders)
    {
        if (ImageFolder.Summary(folders) is { } line) (log ?? Console.Error.WriteLine)(line);
    }
}
