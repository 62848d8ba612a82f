using Sparkle.Data;
using Xunit;

namespace Sparkle.Tests.Data;

/// <summary>The IDX reader: round trips, gzip, and one clear error (naming the file) per kind of damage.</summary>
public class IdxTests : DataTestBase
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void RoundTripsRawAndGzip(bool gz)
    {
        var data = Enumerable.Range(0, 2 * 3 * 4).Select(i => (byte)(i * 7)).ToArray();
        var raw = IdxBytes([2, 3, 4], data);
        var path = PathOf(gz ? "a.idx.gz" : "a.idx");
        File.WriteAllBytes(path, gz ? Gzip(raw) : raw);
        var a = Idx.ReadFile(path);
        Assert.Equal([2, 3, 4], a.Dims);
        Assert.Equal(data, a.Data);
        Assert.Equal(2, a.Count);
        Assert.Equal(12, a.ItemSize);
    }

    public static TheoryData<string, byte[], string> Damaged() => new()
    {
        { "empty", [], "shorter than the 4-byte IDX header" },
        { "magic", [1, 0, 8, 1, 0, 0, 0, 1, 5], "bad magic number" },
        { "type", [0, 0, 0x0D, 1, 0, 0, 0, 1, 5, 5, 5, 5], "unsupported IDX data type 0x0d" },
        { "rank0", [0, 0, 8, 0], "0 dimensions" },
        { "header", [0, 0, 8, 2, 0, 0, 0, 1], "truncated header" },
        { "negative", [0, 0, 8, 1, 0xff, 0xff, 0xff, 0xff], "negative" },
        { "short", [0, 0, 8, 1, 0, 0, 0, 3, 1, 2], "need 3 data bytes, the file has 2" },
        { "long", [0, 0, 8, 1, 0, 0, 0, 1, 1, 2], "bytes after the 1 data bytes" },
    };

    [Theory]
    [MemberData(nameof(Damaged))]
    public void DamageIsReportedWithTheFileName(string name, byte[] bytes, string expected)
    {
        var path = PathOf(name + ".idx");
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<InvalidDataException>(() => Idx.ReadFile(path));
        Assert.Contains(path, e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void CorruptGzipIsReportedWithTheFileName()
    {
        var gz = Gzip(IdxBytes([100], new byte[100]));
        gz[gz.Length / 2] ^= 0xff;
        gz[gz.Length / 2 + 1] ^= 0xff;
        var path = PathOf("bad.idx.gz");
        File.WriteAllBytes(path, gz[..^6]);
        var e = Assert.ThrowsAny<Exception>(() => Idx.ReadFile(path));
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void MissingFileNamesThePath()
    {
        var e = Assert.Throws<FileNotFoundException>(() => Idx.ReadFile(PathOf("nope.gz")));
        Assert.Contains("nope.gz", e.Message);
    }
}
