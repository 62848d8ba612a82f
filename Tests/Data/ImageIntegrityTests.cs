using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using Sparkle.Data;
using StbImageWriteSharp;
using Xunit;

namespace Sparkle.Tests.Data;

/// <summary>Truncated and corrupt JPEG/PNG files are refused (path and reason), left out of an ImageFolder before any
/// batch, or stop it with strict; valid variants (progressive, restart markers, trailing bytes, ancillary chunks,
/// 16-bit, palette, grey+alpha) still decode.</summary>
public class ImageIntegrityTests : DataTestBase
{
    /// <summary>cjpeg -quality 75 -progressive -restart 1B -optimize of a 16x16 pattern (libjpeg-turbo 2.1.5): 10 scans,
    /// restart markers, tables between the scans.</summary>
    private const string ProgressiveRestartJpeg =
        "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsLDBkSEw8UHRofHh0aHBwgJC4nICIsIxwcKDcpLDAxNDQ0Hyc5PTgyPC4zNDL/2wBDAQkJCQwLDBgNDRgyIRwhMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjL/wgARCAAQABADASIAAhEBAxEB/8QAFQABAQAAAAAAAAAAAAAAAAAABQb/xAAUAQEAAAAAAAAAAAAAAAAAAAAA/90ABAAB/9oADAMBAAIQAxAAAAGbXSXP/8QAFRABAQAAAAAAAAAAAAAAAAAAAwD/2gAIAQEAAQUCML//0DC//9Ewv//SML//xAAVEQEBAAAAAAAAAAAAAAAAAAAEAP/aAAgBAwEBPwED7//EABURAQEAAAAAAAAAAAAAAAAAAAIA/9oACAECAQE/ASr/xAAUEAEAAAAAAAAAAAAAAAAAAAAA/9oACAEBAAY/An//0H//0X//0n//xAAVEAEBAAAAAAAAAAAAAAAAAAAAYf/aAAgBAQABPyGL/9CL/9GL/9KL/9oADAMBAAIAAwAAABAD/8QAFhEAAwAAAAAAAAAAAAAAAAAAACEx/9oACAEDAQE/EIM//8QAFBEBAAAAAAAAAAAAAAAAAAAAAP/aAAgBAgEBPxB//8QAFhABAQEAAAAAAAAAAAAAAAAAADHB/9oACAEBAAE/EJv/0J5f/9GeX//Sm//Z";

    /// <summary>The pattern the progressive fixture was made from.</summary>
    private static byte Pattern(int x, int y, int c) => (byte)(c switch { 0 => x * 16, 1 => y * 16, _ => (x + y) * 8 } % 256);

    /// <summary>A 96x64 JPEG of a smooth texture written by StbImageWriteSharp (baseline), a few KB of scan data.</summary>
    private static byte[] Jpeg(int w = 96, int h = 64)
    {
        var px = new byte[w * h * 3];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int c = 0; c < 3; c++)
                    px[(y * w + x) * 3 + c] = (byte)(128 + 100 * Math.Sin(x * 0.3 + y * 0.17 * (c + 1) + c));
        using var ms = new MemoryStream();
        new ImageWriter().WriteJpg(px, w, h, ColorComponents.RedGreenBlue, ms, 90);
        return ms.ToArray();
    }

    private static byte[] Png(int w = 24, int h = 16, int c = 3)
    {
        var px = new byte[w * h * c];
        for (int i = 0; i < px.Length; i++) px[i] = (byte)(i * 37 % 251);
        using var ms = new MemoryStream();
        new ImageWriter().WritePng(px, w, h, c == 1 ? ColorComponents.Grey : ColorComponents.RedGreenBlue, ms);
        return ms.ToArray();
    }

    /// <summary>Offset just past the first SOS header (where the scan data starts).</summary>
    private static int FirstScanData(byte[] jpeg)
    {
        int p = 2;
        while (true)
        {
            Assert.Equal(0xFF, jpeg[p]);
            byte m = jpeg[p + 1];
            int len = BinaryPrimitives.ReadUInt16BigEndian(jpeg.AsSpan(p + 2));
            p += 2 + len;
            if (m == 0xDA) return p;
        }
    }

    /// <summary>Offset of the chunk <paramref name="type"/> in a PNG.</summary>
    private static int ChunkAt(byte[] png, string type)
    {
        int p = 8;
        while (Encoding.ASCII.GetString(png, p + 4, 4) != type) p += 12 + (int)BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(p));
        return p;
    }

    /// <summary>CRC-32 bit by bit (an independent reference for the table-driven one).</summary>
    private static uint Crc(ReadOnlySpan<byte> data)
    {
        uint c = 0xFFFFFFFF;
        foreach (byte b in data)
        {
            c ^= b;
            for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (uint)-(int)(c & 1));
        }
        return ~c;
    }

    private static byte[] Chunk(string type, byte[] data)
    {
        var chunk = new byte[12 + data.Length];
        BinaryPrimitives.WriteUInt32BigEndian(chunk, (uint)data.Length);
        Encoding.ASCII.GetBytes(type, chunk.AsSpan(4));
        data.CopyTo(chunk, 8);
        BinaryPrimitives.WriteUInt32BigEndian(chunk.AsSpan(8 + data.Length), Crc(chunk.AsSpan(4, 4 + data.Length)));
        return chunk;
    }

    /// <summary>A PNG assembled here: IHDR (depth, colour type), optional PLTE, the raw rows (filter byte 0 each), zlib'd.</summary>
    private static byte[] RawPng(int w, int h, int depth, int colourType, byte[] rows, byte[]? palette = null)
    {
        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, w);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), h);
        ihdr[8] = (byte)depth;
        ihdr[9] = (byte)colourType;
        using var z = new MemoryStream();
        using (var zs = new ZLibStream(z, CompressionLevel.Optimal, leaveOpen: true)) zs.Write(rows);
        var ms = new MemoryStream();
        ms.Write([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]);
        ms.Write(Chunk("IHDR", ihdr));
        if (palette is not null) ms.Write(Chunk("PLTE", palette));
        ms.Write(Chunk("IDAT", z.ToArray()));
        ms.Write(Chunk("IEND", []));
        return ms.ToArray();
    }

    private static byte[] Rows(int h, int rowBytes, Func<int, int, byte> value)
    {
        var rows = new byte[h * (rowBytes + 1)];
        for (int y = 0; y < h; y++)
            for (int i = 0; i < rowBytes; i++) rows[y * (rowBytes + 1) + 1 + i] = value(y, i);
        return rows;
    }

    [Fact]
    public void TruncatedJpegsAreRefusedWithAReason()
    {
        var jpeg = Jpeg();
        Assert.Null(ImageIntegrity.Check(jpeg));
        var third = ImageIntegrity.Check(jpeg.AsSpan(0, jpeg.Length / 3));
        Assert.Equal(ImageIntegrity.TruncatedJpeg, third?.Kind);
        Assert.Contains("no EOI marker", third!.Detail);
        var headers = ImageIntegrity.Check(jpeg.AsSpan(0, FirstScanData(jpeg)));
        Assert.Equal(ImageIntegrity.TruncatedJpeg, headers?.Kind);
        Assert.Contains("no scan data", headers!.Detail);
        Assert.Equal(ImageIntegrity.TruncatedJpeg, ImageIntegrity.Check(jpeg.AsSpan(0, 40))?.Kind);          // inside a table
        Assert.Equal(ImageIntegrity.TruncatedJpeg, ImageIntegrity.Check(jpeg.AsSpan(0, jpeg.Length - 2))?.Kind); // EOI cut off
        var e = Assert.Throws<InvalidDataException>(() => ImageDecoder.Decode(jpeg[..(jpeg.Length / 3)], "cut.jpg"));
        Assert.StartsWith("cut.jpg: truncated JPEG (", e.Message);
    }

    [Fact]
    public void ValidJpegVariantsPassAndDecode()
    {
        var jpeg = Jpeg();
        var plain = ImageDecoder.Decode(jpeg, "a.jpg");
        var trailing = jpeg.Concat(new byte[] { 0xFF, 0xD8, 0, 0 }).Concat(Encoding.ASCII.GetBytes("trailing bytes after EOI")).ToArray();
        Assert.Null(ImageIntegrity.Check(trailing));
        Assert.Equal(plain.Pixels.ToArray(), ImageDecoder.Decode(trailing, "b.jpg").Pixels.ToArray());

        var progressive = Convert.FromBase64String(ProgressiveRestartJpeg);
        Assert.Null(ImageIntegrity.Check(progressive));
        var img = ImageDecoder.Decode(progressive, "p.jpg");
        Assert.Equal((16, 16, 3), (img.Width, img.Height, img.Channels));
        var px = img.Pixels.Span;
        double err = 0;
        for (int y = 0; y < 16; y++)
            for (int x = 0; x < 16; x++)
                for (int c = 0; c < 3; c++) err += Math.Abs(px[(y * 16 + x) * 3 + c] - Pattern(x, y, c));
        Assert.InRange(err / (16 * 16 * 3), 0, 12);
        Assert.Equal(ImageIntegrity.TruncatedJpeg, ImageIntegrity.Check(progressive.AsSpan(0, progressive.Length / 2))?.Kind);
    }

    [Fact]
    public void TruncatedAndCrcCorruptPngsAreRefused()
    {
        var png = Png();
        Assert.Null(ImageIntegrity.Check(png));
        int idat = ChunkAt(png, "IDAT");
        var cut = ImageIntegrity.Check(png.AsSpan(0, idat + 20));
        Assert.Equal(ImageIntegrity.TruncatedPng, cut?.Kind);
        Assert.Contains("'IDAT'", cut!.Detail);
        Assert.Equal(ImageIntegrity.TruncatedPng, ImageIntegrity.Check(png.AsSpan(0, png.Length - 12))?.Kind);   // no IEND
        Assert.Equal(ImageIntegrity.TruncatedPng, ImageIntegrity.Check(png.AsSpan(0, 8))?.Kind);                 // signature only
        var flipped = (byte[])png.Clone();
        flipped[idat + 10] ^= 0x01;                                                                                // a data byte
        var crc = ImageIntegrity.Check(flipped);
        Assert.Equal(ImageIntegrity.BadPngCrc, crc?.Kind);
        Assert.Contains("'IDAT'", crc!.Detail);
        var e = Assert.Throws<InvalidDataException>(() => ImageDecoder.Decode(png[..(idat + 20)], "cut.png"));
        Assert.StartsWith("cut.png: truncated PNG (", e.Message);
        Assert.DoesNotContain('\0', e.Message);
    }

    [Fact]
    public void ValidPngVariantsPassAndDecode()
    {
        var png = Png();
        var plain = ImageDecoder.Decode(png, "a.png").Pixels.ToArray();
        int idat = ChunkAt(png, "IDAT");
        var text = Chunk("tEXt", Encoding.ASCII.GetBytes("Comment\0an ancillary chunk"));
        var withText = png[..idat].Concat(text).Concat(png[idat..]).ToArray();
        Assert.Null(ImageIntegrity.Check(withText));
        Assert.Equal(plain, ImageDecoder.Decode(withText, "t.png").Pixels.ToArray());
        var badText = (byte[])withText.Clone();
        badText[idat + text.Length - 1] ^= 0xFF;                                   // the ancillary chunk's CRC: tolerated (libpng)
        Assert.Null(ImageIntegrity.Check(badText));
        var trailing = png.Concat(new byte[] { 1, 2, 3, 4, 5 }).ToArray();
        Assert.Null(ImageIntegrity.Check(trailing));

        // 16-bit RGB: stb keeps the high byte.
        var rgb16 = RawPng(3, 2, 16, 2, Rows(2, 3 * 6, (y, i) => (byte)(40 * y + 7 * i)));
        Assert.Null(ImageIntegrity.Check(rgb16));
        var d16 = ImageDecoder.Decode(rgb16, "16.png");
        Assert.Equal((3, 2, 3), (d16.Width, d16.Height, d16.Channels));
        Assert.Equal(Enumerable.Range(0, 2).SelectMany(y => Enumerable.Range(0, 9).Select(k => (byte)(40 * y + 14 * k))), d16.Pixels.ToArray());
        // Palette (colour type 3).
        var pal = RawPng(4, 1, 8, 3, Rows(1, 4, (_, i) => (byte)(i % 2)), [10, 20, 30, 200, 150, 100]);
        Assert.Null(ImageIntegrity.Check(pal));
        Assert.Equal(new byte[] { 10, 20, 30, 200, 150, 100, 10, 20, 30, 200, 150, 100 }, ImageDecoder.Decode(pal, "p.png").Pixels.ToArray());
        // Grey + alpha (colour type 4): alpha dropped, one channel.
        var ga = RawPng(2, 1, 8, 4, Rows(1, 4, (_, i) => (byte)(i % 2 == 0 ? 90 + i : 255 - i)));
        Assert.Null(ImageIntegrity.Check(ga));
        var dga = ImageDecoder.Decode(ga, "ga.png");
        Assert.Equal(1, dga.Channels);
        Assert.Equal(new byte[] { 90, 92 }, dga.Pixels.ToArray());
    }

    [Fact]
    public void Crc32MatchesTheBitwiseReference()
    {
        var data = Enumerable.Range(0, 1000).Select(i => (byte)(i * 7 + 3)).ToArray();
        Assert.Equal(0xCBF43926u, ImageIntegrity.Crc32.Of("123456789"u8));        // the CRC-32 check value
        Assert.Equal(Crc(data), ImageIntegrity.Crc32.Of(data));
    }

    /// <summary>A folder of 3 good and 5 bad files.</summary>
    private (string Root, string[] Good, string[] Bad) BadFolder()
    {
        var jpeg = Jpeg();
        var png = Png();
        int idat = ChunkAt(png, "IDAT");
        var crc = (byte[])png.Clone();
        crc[idat + 10] ^= 0x01;
        var files = new (string Name, byte[] Bytes, bool Good)[]
        {
            ("a/good.jpg", jpeg, true),
            ("a/third.jpg", jpeg[..(jpeg.Length / 3)], false),
            ("a/headers.jpg", jpeg[..FirstScanData(jpeg)], false),
            ("b/good.png", png, true),
            ("b/cut.png", png[..(idat + 20)], false),
            ("b/crc.png", crc, false),
            ("b/empty.png", [], false),
            ("b/progressive.jpeg", Convert.FromBase64String(ProgressiveRestartJpeg), true),
        };
        foreach (var (name, bytes, _) in files)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(PathOf("set/" + name))!);
            File.WriteAllBytes(PathOf("set/" + name), bytes);
        }
        return (PathOf("set"), files.Where(f => f.Good).Select(f => PathOf("set/" + f.Name)).ToArray(),
                files.Where(f => !f.Good).Select(f => PathOf("set/" + f.Name)).ToArray());
    }

    [Fact]
    public void BadFilesAreSkippedWithPathAndReasonAndNeverReachABatch()
    {
        var (root, good, bad) = BadFolder();
        var log = new List<string>();
        var set = new ImageFolder(root, log: line => { lock (log) log.Add(line); });
        Assert.Equal(8, set.Scanned);
        Assert.Equal(3, set.Count);
        Assert.Equal(good.Order(StringComparer.Ordinal), Enumerable.Range(0, set.Count).Select(set.Describe));
        Assert.Equal(bad.Order(StringComparer.Ordinal), set.Skipped.Select(s => s.Path));
        Assert.Equal(bad.Length, log.Count);
        foreach (var path in bad) Assert.Single(log, l => l.StartsWith($"skipping image {path}: ", StringComparison.Ordinal));
        Assert.Contains(log, l => l.Contains("third.jpg: truncated JPEG (", StringComparison.Ordinal));
        Assert.Contains(log, l => l.Contains("headers.jpg: truncated JPEG (", StringComparison.Ordinal) && l.Contains("no scan data", StringComparison.Ordinal));
        Assert.Contains(log, l => l.Contains("cut.png: truncated PNG (", StringComparison.Ordinal));
        Assert.Contains(log, l => l.Contains("crc.png: bad PNG CRC (", StringComparison.Ordinal));
        Assert.All(log, l => Assert.DoesNotContain(l, ch => char.IsControl(ch)));
        Assert.Equal("skipped 5 of 8 files: 2 truncated JPEG, 1 bad PNG CRC, 1 empty file, 1 truncated PNG", set.SkipSummary);

        using var loader = new DataLoader(set, new PretrainTransform(8), new LoaderOptions { BatchSize = 2, Workers = 2, Seed = 5 });
        var seen = loader.Batches(0, 0, 3).SelectMany(b => b.Indices).Select(set.Describe).ToHashSet();
        Assert.Equal(good.ToHashSet(), seen);
        Assert.Empty(set.Failures);                                                  // nothing failed later, at decode time

        var lines = new List<string>();
        var source = DataSources.Open(root, lines.Add);
        Assert.Equal(3, source.Train.Count);
        Assert.Equal(bad.Length + 1, lines.Count);
        Assert.Equal(set.SkipSummary, lines[^1]);                                    // one summary line after the files
    }

    [Fact]
    public void StrictFolderStopsAtTheFirstBadFile()
    {
        var (root, _, bad) = BadFolder();
        var e = Assert.Throws<InvalidDataException>(() => new ImageFolder(root, log: _ => { }, strict: true));
        Assert.StartsWith(bad.Order(StringComparer.Ordinal).First() + ": ", e.Message);
        var viaSource = Assert.Throws<InvalidDataException>(() => DataSources.Open(root, _ => { }, strictImages: true));
        Assert.Equal(e.Message, viaSource.Message);
    }

    [Fact]
    public void DecodeFailureAfterTheCheckIsReportedLazilyOrThrowsWhenStrict()
    {
        Directory.CreateDirectory(PathOf("lazy/a"));
        File.WriteAllBytes(PathOf("lazy/a/0.png"), Png());
        File.WriteAllText(PathOf("lazy/a/1.png"), "not an image at all");   // no signature: passes the check, fails to decode
        File.WriteAllBytes(PathOf("lazy/a/2.png"), Png(8, 8));
        var log = new List<string>();
        var set = new ImageFolder(PathOf("lazy"), log: line => { lock (log) log.Add(line); });
        Assert.Equal(3, set.Count);
        Assert.False(set.TryLoad(1, out _));
        var line = Assert.Single(log);
        Assert.StartsWith($"skipping image {PathOf("lazy/a/1.png")}: not a decodable image (", line);
        Assert.DoesNotContain(line, ch => char.IsControl(ch));

        var strict = new ImageFolder(PathOf("lazy"), log: _ => { }, strict: true);
        Assert.Throws<InvalidDataException>(() => strict.TryLoad(1, out _));
        using var loader = new DataLoader(strict, new PretrainTransform(8), new LoaderOptions { BatchSize = 3, Workers = 1, Shuffle = false });
        var e = Assert.Throws<InvalidDataException>(() => loader.Batches(0, 0, 1).ToList());
        Assert.Contains(PathOf("lazy/a/1.png"), e.Message);
    }

    [Theory]
    [InlineData(null, "the decoder gave no reason")]
    [InlineData("\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", "the decoder gave no reason")]
    [InlineData("bad zlib\0\0\0", "bad zlib")]
    public void DecoderReasonsAreReadable(string? reason, string expected) => Assert.Equal(expected, ImageDecoder.Readable(reason));
}
