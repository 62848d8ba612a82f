using System.Buffers;

namespace Sparkle.Data;

/// <summary>
/// PIL's bicubic resampling (Pillow libImaging/Resample.c, the path torchvision takes for the PIL images of the
/// official SparK loader): the Keys cubic with <b>a = −0.5</b>, separable (horizontal pass, then vertical),
/// antialiased when shrinking (the kernel is stretched by the scale factor, support 2·max(scale, 1)), weights of each
/// output pixel normalised to sum 1, taps that fall outside the source region dropped (edge renormalisation).
/// For reference, torch's <c>F.interpolate(mode='bicubic', antialias=False)</c> uses a = −0.75; its antialiased
/// path (torchvision tensor <c>resize(antialias=True)</c>) uses a = −0.5 like PIL, which is what we follow.
/// Arithmetic is float32 on values in [0, 255]; unlike PIL we do not round the intermediate or the result to
/// 8 bits (differences below one grey level); callers clamp.
/// </summary>
public static class Bicubic
{
    public const double A = -0.5;

    /// <summary>The cubic convolution kernel with <see cref="A"/>.</summary>
    public static double Kernel(double x)
    {
        x = Math.Abs(x);
        if (x < 1) return ((A + 2) * x - (A + 3)) * x * x + 1;
        if (x < 2) return (((x - 5) * x + 8) * x - 4) * A;
        return 0;
    }

    /// <summary>Tap tables for one axis: output i (of a full output of <paramref name="outFull"/> pixels, window
    /// starting at <paramref name="outOffset"/>) reads source pixels [Start[i], Start[i] + Count[i]) of a source of
    /// <paramref name="inSize"/> pixels with weights Weights[i·Stride ..].</summary>
    internal sealed class Taps
    {
        public required int[] Start;
        public required int[] Count;
        public required float[] Weights;
        public required int Stride;

        public static Taps Build(int inSize, int outFull, int outOffset, int outCount)
        {
            double scale = (double)inSize / outFull;
            double filterScale = Math.Max(scale, 1.0);
            double support = 2.0 * filterScale;
            int stride = (int)Math.Ceiling(support) * 2 + 1;
            var start = new int[outCount];
            var count = new int[outCount];
            var weights = new float[outCount * stride];
            Span<double> k = stackalloc double[stride];
            for (int i = 0; i < outCount; i++)
            {
                double center = (outOffset + i + 0.5) * scale;
                int xmin = Math.Max((int)Math.Floor(center - support + 0.5), 0);
                int xmax = Math.Min((int)Math.Floor(center + support + 0.5), inSize) - xmin;
                xmax = Math.Clamp(xmax, 0, stride);
                double sum = 0;
                for (int x = 0; x < xmax; x++)
                {
                    k[x] = Kernel((x + xmin - center + 0.5) / filterScale);
                    sum += k[x];
                }
                if (sum == 0) // cannot happen for a non-empty source; keep the nearest pixel to be safe
                {
                    xmin = Math.Clamp((int)center, 0, inSize - 1);
                    xmax = 1;
                    k[0] = sum = 1;
                }
                for (int x = 0; x < xmax; x++) weights[i * stride + x] = (float)(k[x] / sum);
                start[i] = xmin;
                count[i] = xmax;
            }
            return new Taps { Start = start, Count = count, Weights = weights, Stride = stride };
        }
    }

    /// <summary>
    /// Resamples the region (<paramref name="x0"/>, <paramref name="y0"/>, <paramref name="w"/>, <paramref name="h"/>) of
    /// <paramref name="image"/> to a virtual <paramref name="fullW"/>×<paramref name="fullH"/> image and writes its window
    /// (<paramref name="outX"/>, <paramref name="outY"/>, <paramref name="outW"/>, <paramref name="outH"/>) into
    /// <paramref name="dst"/> as planar float32 [channel][y][x] on the 0..255 scale. The region is the clamp range
    /// (as if it had been cropped first: torchvision's <c>resized_crop</c>); the window lets a resize + centre crop skip
    /// the pixels the crop throws away.
    /// </summary>
    public static void Resample(DecodedImage image, int x0, int y0, int w, int h, int fullW, int fullH,
                                int outX, int outY, int outW, int outH, Span<float> dst)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (w <= 0 || h <= 0 || x0 < 0 || y0 < 0 || x0 + w > image.Width || y0 + h > image.Height)
            throw new ArgumentException($"Bicubic: region ({x0}, {y0}, {w}x{h}) is not inside the {image.Width}x{image.Height} image.");
        if (fullW <= 0 || fullH <= 0 || outX < 0 || outY < 0 || outW <= 0 || outH <= 0 || outX + outW > fullW || outY + outH > fullH)
            throw new ArgumentException($"Bicubic: window ({outX}, {outY}, {outW}x{outH}) is not inside the {fullW}x{fullH} output.");
        int c = image.Channels;
        if (dst.Length < c * outW * outH)
            throw new ArgumentException($"Bicubic: destination holds {dst.Length} floats, need {c * outW * outH}.");

        var tx = Taps.Build(w, fullW, outX, outW);
        var ty = Taps.Build(h, fullH, outY, outH);
        // Only the source rows the vertical pass reads.
        int rowLo = ty.Start[0], rowHi = ty.Start[outH - 1] + ty.Count[outH - 1];
        for (int i = 0; i < outH; i++)
        {
            rowLo = Math.Min(rowLo, ty.Start[i]);
            rowHi = Math.Max(rowHi, ty.Start[i] + ty.Count[i]);
        }
        int rows = rowHi - rowLo;
        var tmp = ArrayPool<float>.Shared.Rent(c * rows * outW); // planar [c][row][x]
        try
        {
            var src = image.Pixels.Span;
            int rowStride = image.Width * c;
            for (int r = 0; r < rows; r++)
            {
                var line = src.Slice((y0 + rowLo + r) * rowStride + x0 * c, w * c);
                for (int x = 0; x < outW; x++)
                {
                    int s0 = tx.Start[x], n = tx.Count[x];
                    var wts = tx.Weights.AsSpan(x * tx.Stride, n);
                    for (int ch = 0; ch < c; ch++)
                    {
                        float acc = 0;
                        for (int k = 0; k < n; k++) acc += wts[k] * line[(s0 + k) * c + ch];
                        tmp[(ch * rows + r) * outW + x] = acc;
                    }
                }
            }
            for (int ch = 0; ch < c; ch++)
            {
                var plane = dst.Slice(ch * outW * outH, outW * outH);
                for (int y = 0; y < outH; y++)
                {
                    int s0 = ty.Start[y] - rowLo, n = ty.Count[y];
                    var wts = ty.Weights.AsSpan(y * ty.Stride, n);
                    var row = plane.Slice(y * outW, outW);
                    row.Clear();
                    for (int k = 0; k < n; k++)
                    {
                        float wk = wts[k];
                        var srcRow = tmp.AsSpan((ch * rows + s0 + k) * outW, outW);
                        for (int x = 0; x < outW; x++) row[x] += wk * srcRow[x];
                    }
                }
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(tmp);
        }
    }
}
