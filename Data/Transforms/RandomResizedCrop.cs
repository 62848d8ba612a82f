namespace Sparkle.Data;

/// <summary>A crop rectangle: left, top, width, height in pixels.</summary>
public readonly record struct CropBox(int X, int Y, int Width, int Height)
{
    public double Area => (double)Width * Height;
}

/// <summary>
/// torchvision's <c>RandomResizedCrop.get_params</c>, line for line: up to 10 tries of (area fraction ~ U(scale),
/// aspect = exp(U(log ratio))); w = round(√(A·r)), h = round(√(A/r)) with Python's round-half-even; the first that
/// fits is placed uniformly (randint for top, then left); otherwise the fallback centre crop clamps the aspect ratio
/// into the ratio range. Each try draws 2 uniforms; a success draws 2 more integers.
/// </summary>
public static class RandomResizedCrop
{
    /// <summary>SparK's pre-training scale range (SPARK.md §5.5).</summary>
    public static readonly (double Min, double Max) SparkScale = (0.67, 1.0);

    /// <summary>torchvision's default ratio range (3/4, 4/3).</summary>
    public static readonly (double Min, double Max) DefaultRatio = (3.0 / 4.0, 4.0 / 3.0);

    public static CropBox GetParams(int width, int height, (double Min, double Max) scale, (double Min, double Max) ratio, SampleRandom random)
    {
        ArgumentNullException.ThrowIfNull(random);
        double area = (double)width * height;
        double logLo = Math.Log(ratio.Min), logHi = Math.Log(ratio.Max);
        for (int attempt = 0; attempt < 10; attempt++)
        {
            double targetArea = area * random.Uniform(scale.Min, scale.Max);
            double aspect = Math.Exp(random.Uniform(logLo, logHi));
            int w = (int)Math.Round(Math.Sqrt(targetArea * aspect), MidpointRounding.ToEven);
            int h = (int)Math.Round(Math.Sqrt(targetArea / aspect), MidpointRounding.ToEven);
            if (0 < w && w <= width && 0 < h && h <= height)
            {
                int i = (int)random.Randint(0, height - h + 1);
                int j = (int)random.Randint(0, width - w + 1);
                return new CropBox(j, i, w, h);
            }
        }
        double inRatio = (double)width / height;
        int cw, ch;
        if (inRatio < Math.Min(ratio.Min, ratio.Max))
        {
            cw = width;
            ch = (int)Math.Round(cw / Math.Min(ratio.Min, ratio.Max), MidpointRounding.ToEven);
        }
        else if (inRatio > Math.Max(ratio.Min, ratio.Max))
        {
            ch = height;
            cw = (int)Math.Round(ch * Math.Max(ratio.Min, ratio.Max), MidpointRounding.ToEven);
        }
        else
        {
            cw = width;
            ch = height;
        }
        return new CropBox((width - cw) / 2, (height - ch) / 2, cw, ch);
    }
}
