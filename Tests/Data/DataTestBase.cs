using System.IO.Compression;
using Sparkle.Data;

namespace Sparkle.Tests.Data;

/// <summary>A temporary folder per test and small hand-built inputs.</summary>
public abstract class DataTestBase : IDisposable
{
    protected readonly string Dir = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "sparkle-data-" + Guid.NewGuid().ToString("N"))).FullName;

    public void Dispose()
    {
        try { Directory.Delete(Dir, recursive: true); } catch (IOException) { }
        GC.SuppressFinalize(this);
    }

    protected string PathOf(string name) => Path.Combine(Dir, name);

    /// <summary>Raw IDX bytes of an unsigned-byte array.</summary>
    protected static byte[] IdxBytes(int[] dims, byte[] data)
    {
        using var ms = new MemoryStream();
        Idx.Write(ms, new IdxArray(dims, data));
        return ms.ToArray();
    }

    protected static byte[] Gzip(byte[] raw)
    {
        using var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Fastest, leaveOpen: true)) gz.Write(raw);
        return ms.ToArray();
    }

    /// <summary>A tiny Fashion-MNIST-shaped directory: <paramref name="train"/> and <paramref name="test"/> images whose
    /// label is i mod 10 and whose pixels are (i + y + x) mod 256.</summary>
    protected string TinyFashionMnist(int train, int test)
    {
        var dir = Directory.CreateDirectory(PathOf("fmnist")).FullName;
        foreach (var (isTrain, n) in new[] { (true, train), (false, test) })
        {
            var px = new byte[n * 28 * 28];
            var lb = new byte[n];
            for (int i = 0; i < n; i++)
            {
                lb[i] = (byte)(i % 10);
                for (int y = 0; y < 28; y++)
                    for (int x = 0; x < 28; x++) px[(i * 28 + y) * 28 + x] = (byte)(i + y + x);
            }
            var (imgName, lblName) = FashionMnist.FileNames(isTrain);
            File.WriteAllBytes(Path.Combine(dir, imgName), Gzip(IdxBytes([n, 28, 28], px)));
            File.WriteAllBytes(Path.Combine(dir, lblName), Gzip(IdxBytes([n], lb)));
        }
        return dir;
    }

    /// <summary>FNV-1a 64 of a byte span (a stable checksum).</summary>
    protected static ulong Fnv1a(ReadOnlySpan<byte> data)
    {
        ulong h = 14695981039346656037;
        foreach (var b in data) { h ^= b; h *= 1099511628211; }
        return h;
    }
}
