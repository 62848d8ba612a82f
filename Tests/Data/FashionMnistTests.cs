using Sparkle.Data;
using Xunit;

namespace Sparkle.Tests.Data;

/// <summary>Fashion-MNIST: the full-set loader (on the Debian files when installed, otherwise on a tiny set made here),
/// its validation, and the embedded subset (always there: counts, balance, stable checksums).</summary>
public class FashionMnistTests : DataTestBase
{
    /// <summary>The Debian files if installed, else a tiny set in the same layout: the loader is tested either way.</summary>
    [Fact]
    public void LoadsTheFullSetLayout()
    {
        bool debian = FashionMnist.Exists(FashionMnist.DefaultPath);
        var dir = debian ? FashionMnist.DefaultPath : TinyFashionMnist(60, 20);
        var (train, test) = FashionMnist.Load(dir);
        Assert.Equal(debian ? 60000 : 60, train.Count);
        Assert.Equal(debian ? 10000 : 20, test.Count);
        Assert.Equal(10, train.Classes.Count);
        Assert.Equal((28, 28, 1), (train.Height, train.Width, train.Channels));
        var counts = new int[10];
        foreach (var l in train.Labels.Span) counts[l]++;
        Assert.All(counts, c => Assert.Equal(train.Count / 10, c)); // both sets are exactly balanced
        Assert.True(train.TryLoad(train.Count - 1, out var img));
        Assert.Equal(28 * 28, img.Pixels.Length);
    }

    [Fact]
    public void MissingSetGivesTheInstallHint()
    {
        var e = Assert.Throws<FileNotFoundException>(() => FashionMnist.Load(PathOf("absent")));
        Assert.Equal($"Fashion-MNIST not found at {PathOf("absent")}; install it with `apt-get install dataset-fashion-mnist` or pass --data PATH", e.Message);
    }

    [Fact]
    public void MismatchedFilesAreRejectedNamingThem()
    {
        var dir = TinyFashionMnist(30, 10);
        var (_, lblName) = FashionMnist.FileNames(train: true);
        File.WriteAllBytes(Path.Combine(dir, lblName), Gzip(IdxBytes([29], new byte[29])));
        var e = Assert.Throws<InvalidDataException>(() => FashionMnist.Load(dir));
        Assert.Contains(lblName, e.Message);
        Assert.Contains("30 images but 29 labels", e.Message);

        File.WriteAllBytes(Path.Combine(dir, lblName), Gzip(IdxBytes([30], Enumerable.Repeat((byte)10, 30).ToArray())));
        e = Assert.Throws<InvalidDataException>(() => FashionMnist.Load(dir));
        Assert.Contains("label 10", e.Message);
    }

    [Fact]
    public void EmbeddedSubsetIsBalancedAndStable()
    {
        var (train, test) = FashionMnist.LoadEmbedded();
        Assert.Equal(3000, train.Count);
        Assert.Equal(1000, test.Count);
        foreach (var (set, per) in new[] { (train, 300), (test, 100) })
        {
            var counts = new int[10];
            foreach (var l in set.Labels.Span) counts[l]++;
            Assert.All(counts, c => Assert.Equal(per, c));
        }
        // Checksums of the shipped bytes: a change of the resource or of the reader shows here.
        Assert.Equal(EmbeddedChecksums, (Fnv1a(train.Pixels.Span), Fnv1a(train.Labels.Span), Fnv1a(test.Pixels.Span), Fnv1a(test.Labels.Span)));
        Assert.Equal(EmbeddedPixelSums, (Sum(train.Pixels.Span), Sum(test.Pixels.Span)));
    }

    // FNV-1a 64 of train pixels, train labels, test pixels, test labels, and the pixel sums; computed independently (Python,
    // from the Debian files with the same selection rule) when the resource was made.
    private static readonly (ulong, ulong, ulong, ulong) EmbeddedChecksums =
        (10455434610694682421UL, 12099683172570760801UL, 3438920989822068648UL, 15715625687124078819UL);
    private static readonly (long, long) EmbeddedPixelSums = (171733290L, 56973981L);

    private static long Sum(ReadOnlySpan<byte> s)
    {
        long t = 0;
        foreach (var b in s) t += b;
        return t;
    }

    /// <summary>The generator's selection rule, on the Debian files when installed (then it must reproduce the embedded
    /// subset exactly), otherwise on a tiny set where the expected choice is known.</summary>
    [Fact]
    public void SubsetSelectionIsFirstPerClassInFileOrder()
    {
        if (FashionMnist.Exists(FashionMnist.DefaultPath))
        {
            var (train, test) = FashionMnist.Load(FashionMnist.DefaultPath);
            var (etrain, etest) = FashionMnist.LoadEmbedded();
            var (ti, tl) = FashionMnist.SelectBalanced(train, FashionMnist.TrainPerClass);
            var (vi, vl) = FashionMnist.SelectBalanced(test, FashionMnist.TestPerClass);
            Assert.True(etrain.Pixels.Span.SequenceEqual(ti.Data) && etrain.Labels.Span.SequenceEqual(tl.Data), "embedded train subset differs from a rebuild");
            Assert.True(etest.Pixels.Span.SequenceEqual(vi.Data) && etest.Labels.Span.SequenceEqual(vl.Data), "embedded test subset differs from a rebuild");
        }
        else
        {
            var (train, _) = FashionMnist.Load(TinyFashionMnist(60, 20));
            var (imgs, lbls) = FashionMnist.SelectBalanced(train, 3);
            Assert.Equal(Enumerable.Range(0, 30).Select(i => (byte)(i % 10)).ToArray(), lbls.Data);
            Assert.Equal(train.Pixels.Span[..(30 * 784)].ToArray(), imgs.Data);
        }
    }

    [Fact]
    public void SubsetFileFormatRoundTrips()
    {
        // A whole BuildSubset needs 300 images per class; make exactly that, tiny in pixels' variety but full size.
        var dir = TinyFashionMnist(3000, 1000);
        using var ms = new MemoryStream();
        FashionMnist.BuildSubset(dir, ms);
        ms.Position = 0;
        var (train, test) = FashionMnist.ReadSubset(ms, "roundtrip");
        var (full, fullTest) = FashionMnist.Load(dir);
        Assert.True(train.Pixels.Span.SequenceEqual(full.Pixels.Span));
        Assert.True(test.Labels.Span.SequenceEqual(fullTest.Labels.Span));
    }

    [Fact]
    public void DataSourcesOpenTheBuiltinSetByDefault()
    {
        var src = DataSources.Open(null);
        Assert.Equal(3000, src.Train.Count);
        Assert.Contains("Xiao", src.Description);
        var fromDir = DataSources.Open(TinyFashionMnist(20, 10));
        Assert.Equal(20, fromDir.Train.Count);
        Assert.Throws<DirectoryNotFoundException>(() => DataSources.Open(PathOf("nothing")));
    }
}
