namespace Sparkle.Data;

/// <summary>Per-channel mean and standard deviation of <c>transforms.Normalize</c>.</summary>
public sealed record Normalization(float[] Mean, float[] Std)
{
    /// <summary>ImageNet statistics (SPARK.md §5.5): mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225).</summary>
    public static Normalization ImageNet { get; } = new([0.485f, 0.456f, 0.406f], [0.229f, 0.224f, 0.225f]);

    /// <summary>No change (mean 0, std 1): samples stay in [0, 1].</summary>
    public static Normalization Identity { get; } = new([0f, 0f, 0f], [1f, 1f, 1f]);

    /// <summary>
    /// ToTensor + Normalize: <paramref name="planar"/> holds <paramref name="channels"/> (1 or 3) planes of side
    /// <paramref name="size"/> on the 0..255 scale; each value is clamped to [0, 255] (PIL's 8-bit clip), divided by 255,
    /// normalised per output channel and written to the 3 planes of <paramref name="dst"/>; a grey plane feeds all three
    /// (PIL <c>convert('RGB')</c>). With <paramref name="flip"/> each row is mirrored.
    /// </summary>
    public void Apply(ReadOnlySpan<float> planar, int channels, int size, bool flip, Span<float> dst)
    {
        int plane = size * size;
        if (dst.Length < 3 * plane) throw new ArgumentException($"Normalization: destination holds {dst.Length} floats, need {3 * plane}.");
        for (int c = 0; c < 3; c++)
        {
            var src = planar.Slice((channels == 1 ? 0 : c) * plane, plane);
            var o = dst.Slice(c * plane, plane);
            float scale = 1f / (255f * Std[c]), shift = Mean[c] / Std[c];
            for (int y = 0; y < size; y++)
            {
                var row = src.Slice(y * size, size);
                var orow = o.Slice(y * size, size);
                for (int x = 0; x < size; x++)
                {
                    float v = Math.Clamp(row[flip ? size - 1 - x : x], 0f, 255f);
                    orow[x] = v * scale - shift;
                }
            }
        }
    }

    /// <summary>The inverse: normalised value of channel c back to [0, 1] (not clamped).</summary>
    public float Denormalize(float v, int c) => v * Std[c] + Mean[c];
}
