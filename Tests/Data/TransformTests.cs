using FsCheck.Xunit;
using Sparkle.Data;
using Sparkle.Tests.Support;
using Xunit;

namespace Sparkle.Tests.Data;

/// <summary>PIL-style bicubic resampling, torchvision's RandomResizedCrop, flip, normalisation, determinism.</summary>
public class TransformTests
{
    private static DecodedImage Image(int w, int h, int c, Func<int, int, int, int> f)
    {
        var px = new byte[w * h * c];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int ch = 0; ch < c; ch++) px[(y * w + x) * c + ch] = (byte)f(x, y, ch);
        return new DecodedImage(w, h, c, px);
    }

    private static DecodedImage RandomImage(Random rng, int w, int h, int c)
    {
        var px = new byte[w * h * c];
        rng.NextBytes(px);
        return new DecodedImage(w, h, c, px);
    }

    [Fact]
    public void KernelIsKeysCubicWithAMinusHalf()
    {
        Assert.Equal(1.0, Bicubic.Kernel(0));
        Assert.Equal(0.0, Bicubic.Kernel(1));
        Assert.Equal(0.0, Bicubic.Kernel(2));
        Assert.Equal(0.5625, Bicubic.Kernel(0.5), 12);   // (1.5·0.5 − 2.5)·0.25 + 1
        Assert.Equal(-0.0625, Bicubic.Kernel(1.5), 12);  // ((1.5 − 5)·1.5 + 8)·1.5 − 4 = 0.125, times −0.5
        Assert.Equal(Bicubic.Kernel(-0.3), Bicubic.Kernel(0.3));
    }

    [Property(MaxTest = 30)]
    public void ConstantImageStaysConstant(long seed)
    {
        var rng = new SeededRandom(seed);
        int w = rng.Next(1, 40), h = rng.Next(1, 40), ow = rng.Next(1, 50), oh = rng.Next(1, 50);
        byte v = (byte)rng.Next(256);
        var img = Image(w, h, 3, (_, _, _) => v);
        var dst = new float[3 * ow * oh];
        Bicubic.Resample(img, 0, 0, w, h, ow, oh, 0, 0, ow, oh, dst);
        Assert.All(dst, d => Assert.Equal(v, d, 1e-3));
    }

    /// <summary>A linear ramp stays linear away from the borders (where PIL drops taps and renormalises), when
    /// enlarging (support 2) and when shrinking (antialiased, support 2·scale).</summary>
    [Theory]
    [InlineData(20, 16, 57, 41)]
    [InlineData(64, 48, 23, 17)]
    [InlineData(30, 30, 30, 30)]
    public void LinearRampStaysLinearInside(int w, int h, int ow, int oh)
    {
        var img = Image(w, h, 1, (x, y, _) => 2 * x + 3 * y);
        var dst = new float[ow * oh];
        Bicubic.Resample(img, 0, 0, w, h, ow, oh, 0, 0, ow, oh, dst);
        double sx = (double)w / ow, sy = (double)h / oh;
        double mx = 2 * Math.Max(sx, 1) + 1, my = 2 * Math.Max(sy, 1) + 1; // support plus a pixel
        // Enlarging samples the kernel at unit spacing, which reproduces linear functions exactly; shrinking samples the
        // stretched kernel off its grid, so the reproduction is only close (about 0.1 % of the slope per output pixel).
        double tol = sx <= 1 && sy <= 1 ? 0.01 : 0.01 * 5 * Math.Max(sx, sy);
        int checkedCount = 0;
        for (int y = 0; y < oh; y++)
            for (int x = 0; x < ow; x++)
            {
                double cx = (x + 0.5) * sx - 0.5, cy = (y + 0.5) * sy - 0.5; // source coordinate of the output centre
                if (cx < mx || cx > w - 1 - mx || cy < my || cy > h - 1 - my) continue;
                Assert.Equal(2 * cx + 3 * cy, dst[y * ow + x], tol);
                checkedCount++;
            }
        Assert.True(checkedCount > 20, $"only {checkedCount} interior pixels checked");
    }

    [Fact]
    public void SameSizeResampleIsTheIdentity()
    {
        var img = RandomImage(new Random(3), 13, 9, 3);
        var dst = new float[3 * 13 * 9];
        Bicubic.Resample(img, 0, 0, 13, 9, 13, 9, 0, 0, 13, 9, dst);
        var px = img.Pixels.Span;
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < 13 * 9; i++) Assert.Equal(px[i * 3 + c], dst[c * 13 * 9 + i], 1e-4);
    }

    [Fact]
    public void WindowEqualsTheSameRegionOfTheFullResize()
    {
        var img = RandomImage(new Random(4), 37, 29, 3);
        var full = new float[3 * 50 * 40];
        Bicubic.Resample(img, 0, 0, 37, 29, 50, 40, 0, 0, 50, 40, full);
        var win = new float[3 * 20 * 10];
        Bicubic.Resample(img, 0, 0, 37, 29, 50, 40, 7, 11, 20, 10, win);
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < 10; y++)
                for (int x = 0; x < 20; x++)
                    Assert.Equal(full[(c * 40 + y + 11) * 50 + x + 7], win[(c * 10 + y) * 20 + x], 1e-4);
    }

    [Property(MaxTest = 20)]
    public void PretrainOutputHasShapeRangeAndIsDeterministic(long seed)
    {
        var rng = new SeededRandom(seed);
        int c = rng.Next(2) == 0 ? 1 : 3, s = rng.Next(4, 33);
        var img = RandomImage(rng, rng.Next(5, 60), rng.Next(5, 60), c);
        var t = new PretrainTransform(s);
        var a = new float[3 * s * s];
        var b = new float[3 * s * s];
        ulong runSeed = (ulong)rng.NextInt64();
        t.Apply(img, new SampleRandom(runSeed, 2, 17), a);
        t.Apply(img, new SampleRandom(runSeed, 2, 17), b);
        Assert.Equal(a, b);
        var n = Normalization.ImageNet;
        for (int ch = 0; ch < 3; ch++)
        {
            float lo = -n.Mean[ch] / n.Std[ch], hi = (1 - n.Mean[ch]) / n.Std[ch];
            for (int i = 0; i < s * s; i++) Assert.InRange(a[ch * s * s + i], lo - 1e-5f, hi + 1e-5f);
        }
        if (c == 1) // grey is replicated: the de-normalised channels agree
            for (int i = 0; i < s * s; i++)
            {
                Assert.Equal(n.Denormalize(a[i], 0), n.Denormalize(a[s * s + i], 1), 1e-5);
                Assert.Equal(n.Denormalize(a[i], 0), n.Denormalize(a[2 * s * s + i], 2), 1e-5);
            }
        // Other positions or epochs draw other crops/flips (a tiny image has few, so look at several).
        bool differs = false;
        for (int p = 0; p < 8 && !differs; p++)
        {
            t.Apply(img, new SampleRandom(runSeed, 2 + p % 2, 18 + p), b);
            differs = !a.SequenceEqual(b);
        }
        Assert.True(differs, "different positions and epochs gave identical samples");
    }

    [Fact]
    public void CropAreaAndRatioFollowTheScaleAndRatioRanges()
    {
        int trials = 4000, inRange = 0;
        double sumFrac = 0;
        for (int i = 0; i < trials; i++)
        {
            var box = RandomResizedCrop.GetParams(200, 160, RandomResizedCrop.SparkScale, RandomResizedCrop.DefaultRatio, new SampleRandom(7, 0, i));
            Assert.InRange(box.X, 0, 200 - box.Width);
            Assert.InRange(box.Y, 0, 160 - box.Height);
            double frac = box.Area / (200.0 * 160);
            double ratio = (double)box.Width / box.Height;
            sumFrac += frac;
            // rounding of w and h moves the area and ratio by a pixel's worth
            if (frac >= 0.67 - 0.02 && frac <= 1.0 && ratio >= 0.75 - 0.02 && ratio <= 4.0 / 3 + 0.02) inRange++;
        }
        Assert.Equal(trials, inRange);
        // Tries whose crop does not fit are redrawn, so the accepted areas lean small; still the mean lies inside.
        Assert.InRange(sumFrac / trials, 0.72, 0.86);
    }

    [Fact]
    public void CropFallsBackToACentreCropOfClampedRatio()
    {
        // A 100x10 strip: no (area ≥ 0.67, ratio ≤ 4/3) crop fits, so the fallback keeps the full height and w = round(10·4/3).
        var box = RandomResizedCrop.GetParams(100, 10, RandomResizedCrop.SparkScale, RandomResizedCrop.DefaultRatio, new SampleRandom(1, 0, 0));
        Assert.Equal(new CropBox(43, 0, 13, 10), box);
        box = RandomResizedCrop.GetParams(10, 100, RandomResizedCrop.SparkScale, RandomResizedCrop.DefaultRatio, new SampleRandom(1, 0, 0));
        Assert.Equal(new CropBox(0, 43, 10, 13), box);
    }

    [Fact]
    public void FlipHappensAboutHalfTheTime()
    {
        // Scale (1, 1) and ratio equal to the image's: the crop is the whole image, so only the flip varies.
        var img = Image(8, 8, 1, (x, _, _) => 30 * x);
        var t = new PretrainTransform(8, scale: (1, 1), ratio: (1, 1), normalization: Normalization.Identity);
        var o = new float[3 * 64];
        int flips = 0, n = 2000;
        for (int i = 0; i < n; i++)
        {
            t.Apply(img, new SampleRandom(11, 0, i), o);
            bool flipped = o[0] > o[7];
            Assert.Equal(flipped ? 210.0 / 255 : 0.0, o[0], 1e-6);
            if (flipped) flips++;
        }
        Assert.InRange(flips, n / 2 - 150, n / 2 + 150); // > 6 sigma
    }

    [Fact]
    public void EvalTransformResizesShortSideAndCentreCrops()
    {
        var t = new EvalTransform(224);
        Assert.Equal((235, 313, 6, 44), t.Geometry(300, 400)); // floor(224/0.95) = 235; int(235·400/300) = 313; round(5.5) = 6, round(44.5) = 44
        Assert.Equal((352, 235, 64, 6), t.Geometry(480, 320));  // int(235·1.5) = 352; round(5.5) = 6 (half to even)
        Assert.True(EvalTransform.ForFineTune(384).PlainResize);

        var img = RandomImage(new Random(5), 40, 30, 3);
        var small = new EvalTransform(16);
        var a = new float[3 * 256];
        var b = new float[3 * 256];
        small.Apply(img, new SampleRandom(0, 0, 0), a);
        small.Apply(img, new SampleRandom(99, 5, 7), b);
        Assert.Equal(a, b); // no randomness
    }

    [Fact]
    public void DerivedSeedsDifferPerEpochAndPosition()
    {
        var seeds = new HashSet<ulong>();
        for (int e = 0; e < 5; e++)
            for (int p = 0; p < 1000; p++) seeds.Add(SampleRandom.DeriveSeed(1, e, p));
        Assert.Equal(5000, seeds.Count);
        Assert.NotEqual(SampleRandom.DeriveSeed(1, 0, 0), SampleRandom.DeriveSeed(2, 0, 0));
    }
}
