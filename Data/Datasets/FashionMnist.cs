using System.IO.Compression;

namespace Sparkle.Data;

/// <summary>
/// Fashion-MNIST (Xiao, Rasul, Vollgraf 2017, "Fashion-MNIST: a Novel Image Dataset for Benchmarking Machine Learning
/// Algorithms", arXiv:1708.07747, https://github.com/zalandoresearch/fashion-mnist; MIT licence): 70,000 grey 28×28
/// images of 10 clothing classes. The full set is read from Debian's <c>dataset-fashion-mnist</c> package; a
/// class-balanced subset (300 train + 100 test images per class) is embedded in this assembly so that the default run
/// needs no files (<see cref="LoadEmbedded"/>, built by <see cref="BuildSubset"/>).
/// </summary>
public static class FashionMnist
{
    /// <summary>Where Debian's <c>dataset-fashion-mnist</c> installs the files.</summary>
    public const string DefaultPath = "/usr/share/datasets/fashion-mnist";

    public const string Citation =
        "Fashion-MNIST: Han Xiao, Kashif Rasul, Roland Vollgraf (2017), arXiv:1708.07747, " +
        "https://github.com/zalandoresearch/fashion-mnist (MIT licence)";

    public const int ImageSize = 28;
    public const int TrainPerClass = 300;
    public const int TestPerClass = 100;

    public static IReadOnlyList<string> ClassNames { get; } =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    internal const string ResourceName = "Sparkle.Data.fashion-mnist-subset.bin";

    /// <summary>The message shown when the full set is asked for but absent.</summary>
    public static string NotFoundMessage(string path) =>
        $"Fashion-MNIST not found at {path}; install it with `apt-get install dataset-fashion-mnist` or pass --data PATH";

    /// <summary>The four file names of a split directory.</summary>
    public static (string Images, string Labels) FileNames(bool train) => train
        ? ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")
        : ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz");

    /// <summary>True when <paramref name="dir"/> holds the four gzip'ed IDX files (or their un-gzipped versions).</summary>
    public static bool Exists(string dir) =>
        new[] { true, false }.All(t => Resolve(dir, FileNames(t).Images) is not null && Resolve(dir, FileNames(t).Labels) is not null);

    /// <summary>The full set (60,000 train, 10,000 test) from <paramref name="dir"/> (default <see cref="DefaultPath"/>).
    /// Throws <see cref="FileNotFoundException"/> with <see cref="NotFoundMessage"/> when the files are missing.</summary>
    public static (ArrayImageDataset Train, ArrayImageDataset Test) Load(string? dir = null)
    {
        dir ??= DefaultPath;
        if (!Exists(dir)) throw new FileNotFoundException(NotFoundMessage(dir), dir);
        return (LoadSplit(dir, train: true), LoadSplit(dir, train: false));
    }

    /// <summary>One split from <paramref name="dir"/>, validated (28×28 images, one label in 0..9 per image).</summary>
    public static ArrayImageDataset LoadSplit(string dir, bool train)
    {
        var (imgName, lblName) = FileNames(train);
        string imgPath = Resolve(dir, imgName) ?? throw new FileNotFoundException(NotFoundMessage(dir), Path.Combine(dir, imgName));
        string lblPath = Resolve(dir, lblName) ?? throw new FileNotFoundException(NotFoundMessage(dir), Path.Combine(dir, lblName));
        return FromIdx(Idx.ReadFile(imgPath), imgPath, Idx.ReadFile(lblPath), lblPath, train ? "fashion-mnist/train" : "fashion-mnist/test");
    }

    /// <summary>Checks that an image IDX (N, 28, 28) and a label IDX (N) with labels below 10 belong together.</summary>
    public static ArrayImageDataset FromIdx(IdxArray images, string imagesName, IdxArray labels, string labelsName, string name)
    {
        if (images.Dims.Length != 3 || images.Dims[1] != ImageSize || images.Dims[2] != ImageSize)
            throw new InvalidDataException($"IDX file {imagesName}: expected images of shape (N, 28, 28), got ({string.Join(", ", images.Dims)}).");
        if (labels.Dims.Length != 1)
            throw new InvalidDataException($"IDX file {labelsName}: expected a 1-D label array, got ({string.Join(", ", labels.Dims)}).");
        if (labels.Count != images.Count)
            throw new InvalidDataException($"IDX files {imagesName} and {labelsName}: {images.Count} images but {labels.Count} labels.");
        for (int i = 0; i < labels.Data.Length; i++)
            if (labels.Data[i] >= ClassNames.Count)
                throw new InvalidDataException($"IDX file {labelsName}: label {labels.Data[i]} at item {i} is not a Fashion-MNIST class (0..9).");
        return new ArrayImageDataset(name, images.Data, images.Count, ImageSize, ImageSize, 1, labels.Data, ClassNames);
    }

    /// <summary>The embedded subset: 3,000 train and 1,000 test images, class-balanced (see <see cref="BuildSubset"/>).</summary>
    public static (ArrayImageDataset Train, ArrayImageDataset Test) LoadEmbedded()
    {
        using var s = typeof(FashionMnist).Assembly.GetManifestResourceStream(ResourceName)
            ?? throw new InvalidOperationException($"embedded resource {ResourceName} is missing from Sparkle.Data (rebuild with Data/tools/build-fashion-mnist-subset.cs).");
        return ReadSubset(s, "embedded " + ResourceName);
    }

    /// <summary>
    /// Builds the embedded subset from the full set in <paramref name="dir"/>: for each split, the first
    /// <see cref="TrainPerClass"/> (train) / <see cref="TestPerClass"/> (test) images of every class in file order,
    /// kept in file order. Writes a Brotli-compressed (quality 11) concatenation of four IDX arrays: train images,
    /// train labels, test images, test labels.
    /// </summary>
    public static void BuildSubset(string dir, Stream output)
    {
        var (train, test) = Load(dir);
        using var brotli = new BrotliStream(output, new BrotliCompressionOptions { Quality = 11 }, leaveOpen: true);
        foreach (var (set, perClass) in new[] { (train, TrainPerClass), (test, TestPerClass) })
        {
            var (imgs, lbls) = SelectBalanced(set, perClass);
            Idx.Write(brotli, imgs);
            Idx.Write(brotli, lbls);
        }
    }

    /// <summary>The first <paramref name="perClass"/> items of every class, in file order.</summary>
    public static (IdxArray Images, IdxArray Labels) SelectBalanced(ArrayImageDataset set, int perClass)
    {
        int k = set.Classes.Count;
        var taken = new int[k];
        var chosen = new List<int>();
        var labels = set.Labels.Span;
        for (int i = 0; i < set.Count && chosen.Count < perClass * k; i++)
            if (taken[labels[i]] < perClass)
            {
                taken[labels[i]]++;
                chosen.Add(i);
            }
        if (chosen.Count != perClass * k)
            throw new InvalidDataException($"{set.Name}: fewer than {perClass} images in some class ({string.Join(", ", taken)}).");
        int n = ImageSize * ImageSize;
        var px = new byte[chosen.Count * n];
        var lb = new byte[chosen.Count];
        var all = set.Pixels.Span;
        for (int j = 0; j < chosen.Count; j++)
        {
            all.Slice(chosen[j] * n, n).CopyTo(px.AsSpan(j * n));
            lb[j] = labels[chosen[j]];
        }
        return (new IdxArray([chosen.Count, ImageSize, ImageSize], px), new IdxArray([chosen.Count], lb));
    }

    /// <summary>Reads the format written by <see cref="BuildSubset"/>.</summary>
    public static (ArrayImageDataset Train, ArrayImageDataset Test) ReadSubset(Stream input, string name)
    {
        using var brotli = new BrotliStream(input, CompressionMode.Decompress, leaveOpen: true);
        var trainImg = Idx.Read(brotli, name + " (train images)", toEnd: false);
        var trainLbl = Idx.Read(brotli, name + " (train labels)", toEnd: false);
        var testImg = Idx.Read(brotli, name + " (test images)", toEnd: false);
        var testLbl = Idx.Read(brotli, name + " (test labels)", toEnd: true);
        return (FromIdx(trainImg, name, trainLbl, name, "fashion-mnist-subset/train"),
                FromIdx(testImg, name, testLbl, name, "fashion-mnist-subset/test"));
    }

    private static string? Resolve(string dir, string gzName)
    {
        var gz = Path.Combine(dir, gzName);
        if (File.Exists(gz)) return gz;
        var raw = gz[..^3];
        return File.Exists(raw) ? raw : null;
    }
}
