namespace Sparkle.Data;

/// <summary>
/// SparK's pre-training transform (SPARK.md §5.5), in order: RandomResizedCrop(size, scale (0.67, 1), ratio (3/4, 4/3),
/// bicubic) → RandomHorizontalFlip(0.5) → ToTensor ([0, 1]) → Normalize(ImageNet mean/std). Grey images are replicated
/// to 3 channels. Random draws per sample: the crop's (2 per try, +2 on success), then one Bernoulli for the flip.
/// </summary>
public sealed class PretrainTransform : ISampleTransform
{
    public PretrainTransform(int size, (double Min, double Max)? scale = null, (double Min, double Max)? ratio = null,
                             double flipProbability = 0.5, Normalization? normalization = null)
    {
        if (size <= 0) throw new ArgumentException($"PretrainTransform: size must be positive, got {size}.");
        Scale = scale ?? RandomResizedCrop.SparkScale;
        Ratio = ratio ?? RandomResizedCrop.DefaultRatio;
        if (!(Scale.Min > 0 && Scale.Min <= Scale.Max && Scale.Max <= 1))
            throw new ArgumentException($"PretrainTransform: scale range must satisfy 0 < min <= max <= 1, got ({Scale.Min}, {Scale.Max}).");
        if (!(Ratio.Min > 0 && Ratio.Min <= Ratio.Max))
            throw new ArgumentException($"PretrainTransform: ratio range must satisfy 0 < min <= max, got ({Ratio.Min}, {Ratio.Max}).");
        OutputSize = size;
        FlipProbability = flipProbability;
        Normalization = normalization ?? Normalization.ImageNet;
    }

    public int OutputSize { get; }
    public (double Min, double Max) Scale { get; }
    public (double Min, double Max) Ratio { get; }
    public double FlipProbability { get; }
    public Normalization Normalization { get; }

    public void Apply(DecodedImage image, SampleRandom random, Span<float> dst)
    {
        ArgumentNullException.ThrowIfNull(image);
        var box = RandomResizedCrop.GetParams(image.Width, image.Height, Scale, Ratio, random);
        bool flip = random.Bernoulli(FlipProbability);
        int s = OutputSize;
        var planar = new float[image.Channels * s * s];
        Bicubic.Resample(image, box.X, box.Y, box.Width, box.Height, s, s, 0, 0, s, s, planar);
        Normalization.Apply(planar, image.Channels, s, flip, dst);
    }
}
