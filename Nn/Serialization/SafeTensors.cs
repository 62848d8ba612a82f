using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text.Encodings.Web;
using System.Text.Json;
using Sparkle.Autograd;
using Sparkle.Tensors;
using static Sparkle.Nn.Serialization.SafeTensorsHeaderParser;

namespace Sparkle.Nn.Serialization;

/// <summary>
/// Reads and writes the huggingface <c>safetensors</c> format: an 8-byte little-endian header length N, N bytes of
/// UTF-8 JSON (tensor name -> {dtype, shape, data_offsets}, plus an optional "__metadata__" of strings), then the raw
/// little-endian row-major data. Reads validate the whole header and the file length before any tensor is
/// allocated and throw <see cref="SafeTensorsFormatException"/> naming the file, the tensor and the problem.
/// Writes are atomic when they go to a path. See docs/nn.md, "safetensors".
/// </summary>
public static class SafeTensors
{
    /// <summary>The official readers' limit on N, the JSON header's length.</summary>
    public const int MaxHeaderBytes = 100_000_000;

    /// <summary>Data moves in pieces of at most this many bytes (a multiple of every element size).</summary>
    private const int ChunkBytes = 1 << 22;

    private const string StreamName = "<stream>";

    // ============================== reading ==============================

    /// <summary>Loads every tensor of a file, in data-offset order, with the metadata. Tensors are created on
    /// <paramref name="device"/> (default cpu).</summary>
    public static SafeTensorsFile Load(string path, Device? device = null)
    {
        using var fs = OpenRead(path);
        return Read(fs, path, device);
    }

    /// <summary>Reads and validates a file's header (and checks the file's length against it) without loading data.</summary>
    public static SafeTensorsHeader ReadHeader(string path)
    {
        using var fs = OpenRead(path);
        return ReadHeader(fs, path);
    }

    /// <summary>
    /// Reads one safetensors file from the stream's current position to its end. <paramref name="name"/> prefixes
    /// error messages. A seekable stream is validated completely (its length included) before any tensor is
    /// allocated; a non-seekable one is read tensor by tensor, each buffered as its bytes arrive (so a header that
    /// lies about sizes costs no more memory than the bytes really present), and must end after the last tensor.
    /// </summary>
    public static SafeTensorsFile Read(Stream stream, string? name = null, Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        string file = name ?? StreamName;
        var header = ReadHeaderCore(stream, file, out long? dataLength);
        if (dataLength is long n) CheckDataLength(header, n, file);

        long largest = header.Entries.Count == 0 ? 0 : header.Entries.Max(e => e.End - e.Begin);
        var scratch = new byte[(int)Math.Min(ChunkBytes, largest)];
        var dict = new OrderedTensorDict();
        foreach (var e in header.Entries)
        {
            var t = ReadTensor(stream, e, file, scratch, buffered: dataLength is null);
            dict.Add(e.Name, device is Device d && d != Device.Cpu ? t.To(d) : t);
        }
        if (dataLength is null && stream.ReadByte() != -1)
            throw Fail(file, null, $"trailing bytes after the last tensor's data (the tensors cover {header.DataBytes} bytes of data)");
        return new SafeTensorsFile(dict, header.Metadata);
    }

    /// <summary>Reads and validates a header from the stream's current position (the data length too when the
    /// stream can seek). The stream is left after the header.</summary>
    public static SafeTensorsHeader ReadHeader(Stream stream, string? name = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        string file = name ?? StreamName;
        var header = ReadHeaderCore(stream, file, out long? dataLength);
        if (dataLength is long n) CheckDataLength(header, n, file);
        return header;
    }

    private static FileStream OpenRead(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1, FileOptions.SequentialScan);
    }

    private static SafeTensorsHeader ReadHeaderCore(Stream s, string file, out long? dataLength)
    {
        long? available = s.CanSeek ? s.Length - s.Position : null;
        Span<byte> lengthField = stackalloc byte[8];
        int got = ReadAtMost(s, lengthField);
        if (got < 8)
            throw Fail(file, null, got == 0
                ? "the file is empty; a safetensors file starts with an 8-byte header length"
                : $"the file is {got} bytes long, too short for the 8-byte header length");
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(lengthField);
        if (n > MaxHeaderBytes)
            throw Fail(file, null, $"the header length {n} exceeds the limit of {MaxHeaderBytes} bytes (100 MB): not a safetensors file, or a corrupt one");
        if (available is long a && (long)n > a - 8)
            throw Fail(file, null, $"the header length {n} runs past the end of the file ({a} bytes, {a - 8} after the length field)");
        var header = ReadUpTo(s, (int)n);
        if (header.Length < (int)n)
            throw Fail(file, null, $"the header length {n} runs past the end of the file ({8 + header.Length} bytes, {header.Length} after the length field)");
        var parsed = Parse(header, file);
        dataLength = available - 8 - (long)n;
        return parsed;
    }

    private static void CheckDataLength(SafeTensorsHeader h, long dataLength, string file)
    {
        if (dataLength < h.DataBytes)
        {
            var first = h.Entries.First(e => e.End > dataLength);
            throw Fail(file, first.Name, $"tensor '{first.Name}' spans data bytes [{first.Begin}, {first.End}) but only {dataLength} bytes of data follow the header: the file is truncated or the offsets are out of range (the tensors need {h.DataBytes} bytes)");
        }
        if (dataLength > h.DataBytes)
            throw Fail(file, null, $"{dataLength - h.DataBytes} trailing bytes after the last tensor's data ({dataLength} bytes of data follow the header, the tensors cover {h.DataBytes})");
    }

    private static Tensor ReadTensor(Stream s, SafeTensorsEntry e, string file, byte[] scratch, bool buffered)
    {
        long bytes = e.End - e.Begin;
        int size = SafeTensorsDTypes.Known[e.DType].Size;
        // Non-seekable input: collect the tensor's bytes first, so its array is allocated only once they all came.
        List<byte[]>? pieces = buffered ? BufferSpan(s, e, file) : null;
        var dest = Array.CreateInstance(e.LoadedAs.ClrType(), e.NumElements);
        int first = 0, piece = 0;
        for (long done = 0; done < bytes;)
        {
            int n = (int)Math.Min(ChunkBytes, bytes - done);
            ReadOnlySpan<byte> chunk;
            if (pieces is null)
            {
                var span = scratch.AsSpan(0, n);
                int got = ReadAtMost(s, span);
                if (got < n) throw Truncated(file, e, done + got);
                chunk = span;
            }
            else chunk = pieces[piece++];
            Decode(e, chunk, dest, first, file);
            first += n / size;
            done += n;
        }
        return Wrap(dest, e.ShapeRef);
    }

    private static List<byte[]> BufferSpan(Stream s, SafeTensorsEntry e, string file)
    {
        var pieces = new List<byte[]>();
        long bytes = e.End - e.Begin;
        for (long done = 0; done < bytes;)
        {
            var piece = new byte[(int)Math.Min(ChunkBytes, bytes - done)];
            int got = ReadAtMost(s, piece);
            if (got < piece.Length) throw Truncated(file, e, done + got);
            pieces.Add(piece);
            done += got;
        }
        return pieces;
    }

    private static SafeTensorsFormatException Truncated(string file, SafeTensorsEntry e, long gotOfTensor)
        => Fail(file, e.Name, $"the data ends {gotOfTensor} bytes into tensor '{e.Name}', which spans data bytes [{e.Begin}, {e.End}): the file is truncated");

    /// <summary>Converts one chunk of a tensor's bytes (a whole number of elements) into dest[first..].</summary>
    private static void Decode(SafeTensorsEntry e, ReadOnlySpan<byte> src, Array dest, int first, string file)
    {
        switch (e.DType)
        {
            case "F32": CopyRaw(src, (float[])dest, first, 4); break;
            case "F64": CopyRaw(src, (double[])dest, first, 8); break;
            case "I32": CopyRaw(src, (int[])dest, first, 4); break;
            case "I64": CopyRaw(src, (long[])dest, first, 8); break;
            case "BOOL":
            {
                var d = (bool[])dest;
                for (int i = 0; i < src.Length; i++)
                {
                    if (src[i] > 1)
                        throw Fail(file, e.Name, $"tensor '{e.Name}' (BOOL) holds the byte {src[i]} at element {first + i}; BOOL bytes must be 0 or 1");
                    d[first + i] = src[i] == 1;
                }
                break;
            }
            case "U8": { var d = (int[])dest; for (int i = 0; i < src.Length; i++) d[first + i] = src[i]; break; }
            case "I8": { var d = (int[])dest; for (int i = 0; i < src.Length; i++) d[first + i] = (sbyte)src[i]; break; }
            case "U16": { var d = (int[])dest; for (int i = 0; i < src.Length / 2; i++) d[first + i] = BinaryPrimitives.ReadUInt16LittleEndian(src[(2 * i)..]); break; }
            case "I16": { var d = (int[])dest; for (int i = 0; i < src.Length / 2; i++) d[first + i] = BinaryPrimitives.ReadInt16LittleEndian(src[(2 * i)..]); break; }
            case "U32": { var d = (long[])dest; for (int i = 0; i < src.Length / 4; i++) d[first + i] = BinaryPrimitives.ReadUInt32LittleEndian(src[(4 * i)..]); break; }
            case "F16": { var d = (float[])dest; for (int i = 0; i < src.Length / 2; i++) d[first + i] = (float)BinaryPrimitives.ReadHalfLittleEndian(src[(2 * i)..]); break; }
            case "BF16":
            {
                var d = (float[])dest;
                for (int i = 0; i < src.Length / 2; i++)
                    d[first + i] = BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(src[(2 * i)..]) << 16);
                break;
            }
            default: throw new InvalidOperationException($"no decoder for {e.DType}"); // the parser admits only the above
        }
    }

    private static void CopyRaw<T>(ReadOnlySpan<byte> src, T[] dest, int first, int size) where T : unmanaged
    {
        var d = MemoryMarshal.AsBytes(dest.AsSpan(first, src.Length / size));
        src.CopyTo(d);
        if (!BitConverter.IsLittleEndian) SwapEach(d, size);
    }

    private static Tensor Wrap(Array data, int[] shape) => data switch
    {
        float[] a => Tensor.WrapHost(a, shape),
        double[] a => Tensor.WrapHost(a, shape),
        int[] a => Tensor.WrapHost(a, shape),
        long[] a => Tensor.WrapHost(a, shape),
        bool[] a => Tensor.WrapHost(a, shape),
        _ => throw new InvalidOperationException(data.GetType().Name),
    };

    /// <summary>Reads until <paramref name="buffer"/> is full or the stream ends; returns the count read.</summary>
    private static int ReadAtMost(Stream s, Span<byte> buffer)
    {
        int total = 0;
        while (total < buffer.Length)
        {
            int n = s.Read(buffer[total..]);
            if (n == 0) break;
            total += n;
        }
        return total;
    }

    /// <summary>Up to <paramref name="count"/> bytes; the buffer grows with what arrives, so a lying length field on a
    /// short stream does not allocate its claim.</summary>
    private static byte[] ReadUpTo(Stream s, int count)
    {
        if (s.CanSeek && count <= s.Length - s.Position)
        {
            var all = new byte[count];
            return all[..ReadAtMost(s, all)];
        }
        var ms = new MemoryStream();
        var piece = new byte[Math.Min(count, 1 << 20)];
        while (ms.Length < count)
        {
            int n = ReadAtMost(s, piece.AsSpan(0, (int)Math.Min(piece.Length, count - ms.Length)));
            ms.Write(piece, 0, n);
            if (n == 0) break;
        }
        return ms.ToArray();
    }

    private static void SwapEach(Span<byte> bytes, int size)
    {
        for (int i = 0; i < bytes.Length; i += size) bytes.Slice(i, size).Reverse();
    }

    // ============================== writing ==============================

    /// <summary>
    /// Writes <paramref name="tensors"/> to <paramref name="path"/> atomically: into a temporary file in the same
    /// folder, flushed to disk, then renamed over the target, so a crash or error never leaves a partial file and an
    /// existing file stays as it was when writing fails. Tensors of any layout or device are written contiguously;
    /// see <see cref="Write"/> for the layout.
    /// </summary>
    public static void Save(string path, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        var plan = Plan(tensors, metadata);
        string full = Path.GetFullPath(path);
        string dir = Path.GetDirectoryName(full) ?? throw new ArgumentException($"'{path}' has no folder.", nameof(path));
        string tmp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 1 << 16))
            {
                WritePlan(fs, plan);
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(tmp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
    }

    /// <summary>
    /// Writes a safetensors file to the stream. The header lists "__metadata__" (when non-empty) and then the tensors
    /// in data order, padded with spaces to a multiple of 8 bytes. The data order is the dictionary's order, stably
    /// grouped by element size (8-byte dtypes, then 4-byte, then BOOL), so every tensor starts aligned to its element
    /// size, as zero-copy readers (PyTorch's safe_open) need. Sparkle dtypes map to F32, F64, I32, I64 and BOOL.
    /// </summary>
    public static void Write(Stream stream, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        WritePlan(stream, Plan(tensors, metadata));
    }

    private sealed record Planned(string Name, Tensor Tensor, long Begin, long End);

    private static (byte[] Header, List<Planned> Items) Plan(IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        var given = new List<(string Name, Tensor Tensor)>();
        foreach (var (name, t) in tensors)
        {
            if (name is null) throw new ArgumentException("SafeTensors: a tensor name is null.", nameof(tensors));
            if (name == MetadataKey) throw new ArgumentException($"SafeTensors: '{MetadataKey}' is reserved for the metadata and cannot name a tensor.", nameof(tensors));
            if (t is null) throw new ArgumentException($"SafeTensors: tensor '{name}' is null.", nameof(tensors));
            given.Add((name, t));
        }
        if (metadata is not null)
            foreach (var (k, v) in metadata)
                if (k is null || v is null) throw new ArgumentException($"SafeTensors: metadata key '{k}' has a null key or value.", nameof(metadata));

        var items = new List<Planned>(given.Count);
        long offset = 0;
        foreach (var (name, t) in given.OrderByDescending(x => x.Tensor.DType.SizeOf())) // OrderBy is stable
        {
            long end = offset + (long)t.NumElements * t.DType.SizeOf();
            items.Add(new Planned(name, t, offset, end));
            offset = end;
        }

        var buffer = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                w.WriteStartObject(MetadataKey);
                foreach (var (k, v) in metadata) w.WriteString(k, v);
                w.WriteEndObject();
            }
            foreach (var it in items)
            {
                w.WriteStartObject(it.Name);
                w.WriteString("dtype", SafeTensorsDTypes.NameOf(it.Tensor.DType));
                w.WriteStartArray("shape");
                foreach (int d in it.Tensor.Shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(it.Begin);
                w.WriteNumberValue(it.End);
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }
        int padded = (buffer.WrittenCount + 7) / 8 * 8;
        if (padded > MaxHeaderBytes)
            throw new ArgumentException($"SafeTensors: the header would be {padded} bytes, above the {MaxHeaderBytes}-byte limit readers enforce (too many tensors or too much metadata).");
        var header = new byte[padded];
        buffer.WrittenSpan.CopyTo(header);
        header.AsSpan(buffer.WrittenCount).Fill((byte)' ');
        return (header, items);
    }

    private static void WritePlan(Stream s, (byte[] Header, List<Planned> Items) plan)
    {
        Span<byte> lengthField = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(lengthField, (ulong)plan.Header.Length);
        s.Write(lengthField);
        s.Write(plan.Header);
        long largest = plan.Items.Count == 0 ? 0 : plan.Items.Max(it => it.End - it.Begin);
        var scratch = new byte[(int)Math.Min(ChunkBytes, largest)];
        foreach (var it in plan.Items) WriteTensor(s, it.Tensor, scratch);
        s.Flush();
    }

    private static void WriteTensor(Stream s, Tensor t, byte[] scratch)
    {
        if (t.Device != Device.Cpu)
            using (GradMode.NoGrad()) t = t.To(Device.Cpu);
        switch (t.DType)
        {
            case DType.Float32: WriteRaw(s, HostElements<float>(t), 4, scratch); break;
            case DType.Float64: WriteRaw(s, HostElements<double>(t), 8, scratch); break;
            case DType.Int32: WriteRaw(s, HostElements<int>(t), 4, scratch); break;
            case DType.Int64: WriteRaw(s, HostElements<long>(t), 8, scratch); break;
            case DType.Bool:
            {
                var src = HostElements<bool>(t);
                for (int i = 0; i < src.Length; i += scratch.Length)
                {
                    int n = Math.Min(scratch.Length, src.Length - i);
                    for (int j = 0; j < n; j++) scratch[j] = src[i + j] ? (byte)1 : (byte)0;
                    s.Write(scratch, 0, n);
                }
                break;
            }
            default: throw new NotSupportedException($"SafeTensors: cannot write {t.DType.Name()}.");
        }
    }

    /// <summary>The elements in row-major order: the storage itself for a contiguous cpu tensor, else a copy.</summary>
    private static ReadOnlySpan<T> HostElements<T>(Tensor t) where T : unmanaged
    {
        if (t.NumElements == 0) return default;
        return t.TryGetHostSpan<T>(out var span) ? span : t.ToArray<T>();
    }

    private static void WriteRaw<T>(Stream s, ReadOnlySpan<T> src, int size, byte[] scratch) where T : unmanaged
    {
        int per = ChunkBytes / size;
        for (int i = 0; i < src.Length; i += per)
        {
            var bytes = MemoryMarshal.AsBytes(src.Slice(i, Math.Min(per, src.Length - i)));
            if (BitConverter.IsLittleEndian) { s.Write(bytes); continue; }
            var swapped = scratch.AsSpan(0, bytes.Length);
            bytes.CopyTo(swapped);
            SwapEach(swapped, size);
            s.Write(swapped);
        }
    }
}
