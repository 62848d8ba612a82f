using System.Diagnostics.CodeAnalysis;

namespace Sparkle.Data;

/// <summary>Equal-sized 8-bit images held in one byte array (N, H, W, C), with optional byte labels.</summary>
public sealed class ArrayImageDataset : IImageDataset
{
    private readonly byte[] _pixels;
    private readonly byte[]? _labels;

    public ArrayImageDataset(string name, byte[] pixels, int count, int height, int width, int channels,
                             byte[]? labels, IReadOnlyList<string> classes)
    {
        ArgumentNullException.ThrowIfNull(pixels);
        ArgumentNullException.ThrowIfNull(classes);
        if (count < 0 || height <= 0 || width <= 0 || channels is not (1 or 3))
            throw new ArgumentException($"{name}: bad geometry {count}x{height}x{width}x{channels}.");
        if (pixels.Length != (long)count * height * width * channels)
            throw new ArgumentException($"{name}: {pixels.Length} pixel bytes do not fill {count}x{height}x{width}x{channels}.");
        if (labels is not null)
        {
            if (labels.Length != count) throw new ArgumentException($"{name}: {labels.Length} labels for {count} images.");
            foreach (var l in labels)
                if (l >= classes.Count) throw new ArgumentException($"{name}: label {l} outside the {classes.Count} classes.");
        }
        Name = name;
        _pixels = pixels;
        _labels = labels;
        Count = count;
        Height = height;
        Width = width;
        Channels = channels;
        Classes = labels is null ? [] : classes;
    }

    public string Name { get; }
    public int Count { get; }
    public int Height { get; }
    public int Width { get; }
    public int Channels { get; }
    public IReadOnlyList<string> Classes { get; }

    /// <summary>All pixels, (N, H, W, C) row-major.</summary>
    public ReadOnlyMemory<byte> Pixels => _pixels;

    /// <summary>All labels, or empty when unlabeled.</summary>
    public ReadOnlyMemory<byte> Labels => _labels ?? [];

    public int Label(int index) => _labels is null ? -1 : _labels[CheckIndex(index)];

    public bool TryLoad(int index, [NotNullWhen(true)] out DecodedImage? image)
    {
        int n = Height * Width * Channels;
        image = new DecodedImage(Width, Height, Channels, _pixels.AsMemory(CheckIndex(index) * n, n));
        return true;
    }

    public string Describe(int index) => $"{Name}[{index}]";

    private int CheckIndex(int index) =>
        (uint)index < (uint)Count ? index : throw new ArgumentOutOfRangeException(nameof(index), $"{Name}: index {index} outside [0, {Count}).");
}
