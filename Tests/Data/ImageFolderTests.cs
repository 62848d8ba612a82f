using Sparkle.Data;
using StbImageWriteSharp;
using Xunit;

namespace Sparkle.Tests.Data;

/// <summary>ImageFolder: layout, decoding of PNG/JPEG written here, one report per corrupt file, skipping in the loader.</summary>
public class ImageFolderTests : DataTestBase
{
    private static byte[] Pixels(int w, int h, int c, int salt)
    {
        var px = new byte[w * h * c];
        for (int i = 0; i < px.Length; i++) px[i] = (byte)(i * 31 + salt);
        return px;
    }

    private void WritePng(string rel, int w, int h, int c, int salt)
    {
        var path = PathOf(rel);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using var f = File.Create(path);
        new ImageWriter().WritePng(Pixels(w, h, c, salt), w, h, c switch { 1 => ColorComponents.Grey, 3 => ColorComponents.RedGreenBlue, _ => ColorComponents.RedGreenBlueAlpha }, f);
    }

    [Fact]
    public void ClassFoldersAreSortedAndPngsDecodeExactly()
    {
        WritePng("root/zebra/a.png", 5, 4, 3, 1);
        WritePng("root/ant/b.png", 6, 3, 1, 2);
        WritePng("root/ant/sub/c.png", 3, 3, 4, 3); // RGBA: alpha dropped
        File.WriteAllText(PathOf("root/ant/readme.txt"), "not an image");
        var set = new ImageFolder(PathOf("root"));
        Assert.Equal(["ant", "zebra"], set.Classes);
        Assert.Equal(3, set.Count);
        Assert.Equal([0, 0, 1], Enumerable.Range(0, 3).Select(set.Label));
        Assert.EndsWith("b.png", set.Describe(0));

        Assert.True(set.TryLoad(0, out var grey));
        Assert.Equal((6, 3, 1), (grey.Width, grey.Height, grey.Channels));
        Assert.Equal(Pixels(6, 3, 1, 2), grey.Pixels.ToArray());

        Assert.True(set.TryLoad(1, out var rgba));
        Assert.Equal(3, rgba.Channels);
        var src = Pixels(3, 3, 4, 3);
        Assert.Equal(Enumerable.Range(0, 9 * 4).Where(i => i % 4 != 3).Select(i => src[i]).ToArray(), rgba.Pixels.ToArray());

        Assert.True(set.TryLoad(2, out var rgb));
        Assert.Equal(Pixels(5, 4, 3, 1), rgb.Pixels.ToArray());
    }

    [Fact]
    public void JpegDecodes()
    {
        var path = PathOf("flat/x.jpg");
        Directory.CreateDirectory(PathOf("flat"));
        using (var f = File.Create(path))
            new ImageWriter().WriteJpg(Enumerable.Repeat((byte)120, 16 * 8 * 3).ToArray(), 16, 8, ColorComponents.RedGreenBlue, f, 95);
        var set = new ImageFolder(PathOf("flat"));
        Assert.Empty(set.Classes);
        Assert.Equal(-1, set.Label(0));
        Assert.True(set.TryLoad(0, out var img));
        Assert.Equal((16, 8, 3), (img.Width, img.Height, img.Channels));
        Assert.All(img.Pixels.ToArray(), v => Assert.InRange(v, 117, 123));
    }

    [Fact]
    public void CorruptFileIsReportedOnceAndSkippedByTheLoader()
    {
        WritePng("set/a/0.png", 8, 8, 3, 1);
        File.WriteAllText(PathOf("set/a/1.png"), "GIF89a, then garbage"); // passes the structure check, fails to decode
        WritePng("set/a/2.png", 8, 8, 3, 2);
        var log = new List<string>();
        var set = new ImageFolder(PathOf("set"), log: line => { lock (log) log.Add(line); });
        Assert.False(set.TryLoad(1, out _));
        Assert.False(set.TryLoad(1, out _));
        Assert.Single(log);
        Assert.Contains(PathOf("set/a/1.png"), log[0]);
        Assert.Contains("not a decodable image", log[0]);

        using var loader = new DataLoader(set, new PretrainTransform(8), new LoaderOptions { BatchSize = 3, Workers = 2, Shuffle = false });
        var batches = loader.Batches(0, 0, 3).ToList();
        Assert.Equal(3, batches.Count);
        Assert.All(batches, b => Assert.Equal([0, 2, 2], b.Indices)); // item 1 replaced by the next loadable one
        Assert.Single(log);
        Assert.Single(set.Failures);
    }

    [Fact]
    public void EmptyOrMissingFoldersGiveClearErrors()
    {
        Assert.Throws<DirectoryNotFoundException>(() => new ImageFolder(PathOf("missing")));
        Directory.CreateDirectory(PathOf("empty"));
        var e = Assert.Throws<InvalidDataException>(() => new ImageFolder(PathOf("empty")));
        Assert.Contains("no image files", e.Message);
    }
}
