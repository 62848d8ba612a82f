namespace Sparkle.Data;

/// <summary>
/// The deterministic evaluation transform of SparK's fine-tuning (SPARK.md §6.2, timm <c>transforms_imagenet_eval</c>):
/// bicubic resize of the short side to floor(size / cropPct) (the long side to int(that · long / short), torchvision's
/// rule), then a centre crop of size × size (offsets round((H − size) / 2), half to even), ToTensor, Normalize.
/// With <see cref="PlainResize"/> (SparK's choice at 384 px) the image is instead resized to size × size.
/// Draws no random numbers.
/// </summary>
public sealed class EvalTransform : ISampleTransform
{
    public EvalTransform(int size, double cropPct = 0.95, bool plainResize = false, Normalization? normalization = null)
    {
        if (size <= 0) throw new ArgumentException($"EvalTransform: size must be positive, got {size}.");
        if (!(cropPct > 0 && cropPct <= 1)) throw new ArgumentException($"EvalTransform: cropPct must lie in (0, 1], got {cropPct}.");
        OutputSize = size;
        CropPct = cropPct;
        PlainResize = plainResize;
        Normalization = normalization ?? Normalization.ImageNet;
    }

    /// <summary>SparK's fine-tuning eval transform for <paramref name="size"/>: crop_pct 0.95 below 384, plain resize at 384+.</summary>
    public static EvalTransform ForFineTune(int size) => size >= 384 ? new(size, 1.0, plainResize: true) : new(size, 0.95);

    public int OutputSize { get; }
    public double CropPct { get; }
    public bool PlainResize { get; }
    public Normalization Normalization { get; }

    /// <summary>The size of the intermediate resized image and the crop's top-left corner in it.</summary>
    public (int Width, int Height, int X, int Y) Geometry(int width, int height)
    {
        int s = OutputSize;
        if (PlainResize) return (s, s, 0, 0);
        int shortTarget = (int)Math.Floor(s / CropPct);
        int rw, rh;
        if (width <= height) { rw = shortTarget; rh = (int)((long)shortTarget * height / width); }
        else { rh = shortTarget; rw = (int)((long)shortTarget * width / height); }
        int x = (int)Math.Round((rw - s) / 2.0, MidpointRounding.ToEven);
        int y = (int)Math.Round((rh - s) / 2.0, MidpointRounding.ToEven);
        return (rw, rh, x, y);
    }

    public void Apply(DecodedImage image, SampleRandom random, Span<float> dst)
    {
        ArgumentNullException.ThrowIfNull(image);
        int s = OutputSize;
        var (rw, rh, x, y) = Geometry(image.Width, image.Height);
        var planar = new float[image.Channels * s * s];
        Bicubic.Resample(image, 0, 0, image.Width, image.Height, rw, rh, x, y, s, s, planar);
        Normalization.Apply(planar, image.Channels, s, flip: false, dst);
    }
}
