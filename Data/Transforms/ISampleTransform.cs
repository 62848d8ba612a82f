namespace Sparkle.Data;

/// <summary>Turns one decoded image into one normalised (3, S, S) float32 sample.</summary>
public interface ISampleTransform
{
    /// <summary>Side S of the square output.</summary>
    int OutputSize { get; }

    /// <summary>Writes the sample as CHW float32 (3·S·S values) into <paramref name="dst"/>. All randomness comes from
    /// <paramref name="random"/>; the method is thread-safe.</summary>
    void Apply(DecodedImage image, SampleRandom random, Span<float> dst);
}
