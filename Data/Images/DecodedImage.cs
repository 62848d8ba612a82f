namespace Sparkle.Data;

/// <summary>An 8-bit image in memory: row-major HWC pixels with 1 (grey) or 3 (RGB) channels.</summary>
public sealed class DecodedImage
{
    public DecodedImage(int width, int height, int channels, ReadOnlyMemory<byte> pixels)
    {
        if (width <= 0 || height <= 0) throw new ArgumentException($"DecodedImage: size must be positive, got {width}x{height}.");
        if (channels is not (1 or 3)) throw new ArgumentException($"DecodedImage: 1 or 3 channels, got {channels}.");
        if (pixels.Length != (long)width * height * channels)
            throw new ArgumentException($"DecodedImage: {pixels.Length} bytes do not fill {width}x{height}x{channels}.");
        Width = width;
        Height = height;
        Channels = channels;
        Pixels = pixels;
    }

    public int Width { get; }
    public int Height { get; }

    /// <summary>1 (grey) or 3 (RGB).</summary>
    public int Channels { get; }

    /// <summary>HWC bytes (y, x, c).</summary>
    public ReadOnlyMemory<byte> Pixels { get; }
}
