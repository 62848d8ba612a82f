using System.Buffers.Binary;
using System.IO.Compression;

namespace Sparkle.Data;

/// <summary>
/// Reads and writes IDX files (MNIST/Fashion-MNIST layout): 2 zero bytes, a type code (only 0x08, unsigned byte,
/// is supported), the number of dimensions, each dimension as a big-endian int32, then the data. Files ending in
/// ".gz" or starting with the gzip magic are decompressed on the fly. Every problem throws
/// <see cref="InvalidDataException"/> naming the file.
/// </summary>
public static class Idx
{
    private const byte UnsignedByte = 0x08;

    /// <summary>Reads an IDX file, gzip'ed or not.</summary>
    public static IdxArray ReadFile(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"IDX file not found: {path}", path);
        using var file = File.OpenRead(path);
        int b0 = file.ReadByte(), b1 = file.ReadByte();
        file.Position = 0;
        bool gz = b0 == 0x1f && b1 == 0x8b;
        if (!gz) return Read(file, path);
        using var unzip = new GZipStream(file, CompressionMode.Decompress);
        return Read(unzip, path);
    }

    /// <summary>Reads one IDX array from <paramref name="stream"/>; <paramref name="name"/> names the source in errors.
    /// With <paramref name="toEnd"/> the stream must end right after the data.</summary>
    public static IdxArray Read(Stream stream, string name, bool toEnd = true)
    {
        ArgumentNullException.ThrowIfNull(stream);
        try
        {
            Span<byte> head = stackalloc byte[4];
            if (ReadFully(stream, head) < 4) throw Bad(name, "file is shorter than the 4-byte IDX header");
            if (head[0] != 0 || head[1] != 0)
                throw Bad(name, $"bad magic number 0x{head[0]:x2}{head[1]:x2}{head[2]:x2}{head[3]:x2} (an IDX file starts with two zero bytes)");
            if (head[2] != UnsignedByte)
                throw Bad(name, $"unsupported IDX data type 0x{head[2]:x2} (only 0x08, unsigned byte, is supported)");
            int rank = head[3];
            if (rank == 0) throw Bad(name, "IDX header declares 0 dimensions");
            var dimBytes = new byte[4 * rank];
            if (ReadFully(stream, dimBytes) < dimBytes.Length) throw Bad(name, $"truncated header: {rank} dimensions declared");
            var dims = new int[rank];
            long total = 1;
            for (int i = 0; i < rank; i++)
            {
                dims[i] = BinaryPrimitives.ReadInt32BigEndian(dimBytes.AsSpan(4 * i));
                if (dims[i] < 0) throw Bad(name, $"dimension {i} is negative ({dims[i]})");
                total *= dims[i];
                if (total > Array.MaxLength) throw Bad(name, $"dimensions [{string.Join(", ", dims.Take(i + 1))}...] exceed the largest array");
            }
            var data = new byte[total];
            int got = ReadFully(stream, data);
            if (got < total)
                throw Bad(name, $"truncated: dimensions [{string.Join(", ", dims)}] need {total} data bytes, the file has {got}");
            if (toEnd && stream.ReadByte() >= 0)
                throw Bad(name, $"has bytes after the {total} data bytes of dimensions [{string.Join(", ", dims)}]");
            return new IdxArray(dims, data);
        }
        catch (InvalidDataException e) when (!e.Message.StartsWith("IDX file ", StringComparison.Ordinal))
        {
            throw Bad(name, "cannot be decompressed: " + e.Message); // e.g. a corrupt gzip stream
        }
    }

    /// <summary>Writes <paramref name="array"/> as an (uncompressed) IDX stream.</summary>
    public static void Write(Stream stream, IdxArray array)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(array);
        Span<byte> b = stackalloc byte[4];
        stream.Write([0, 0, UnsignedByte, (byte)array.Dims.Length]);
        foreach (var d in array.Dims)
        {
            BinaryPrimitives.WriteInt32BigEndian(b, d);
            stream.Write(b);
        }
        stream.Write(array.Data);
    }

    private static int ReadFully(Stream s, Span<byte> dst)
    {
        int total = 0;
        while (total < dst.Length)
        {
            int n = s.Read(dst[total..]);
            if (n == 0) break;
            total += n;
        }
        return total;
    }

    private static InvalidDataException Bad(string name, string what) => new($"IDX file {name}: {what}.");
}
