using System.Buffers.Binary;
using System.Text;
using FsCheck.Xunit;
using Sparkle.Nn;
using Sparkle.Nn.Serialization;
using Sparkle.Tensors;
using Sparkle.Tensors.Cpu;
using Sparkle.Tests.Support;
using Xunit;

namespace Sparkle.Tests.Nn;

/// <summary>Shared helpers: a temporary folder per test, raw-bit comparison, hand-built files, odd streams.</summary>
public abstract class SafeTensorsTestBase : IDisposable
{
    protected readonly string Dir = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "sparkle-st-" + Guid.NewGuid().ToString("N"))).FullName;

    public void Dispose()
    {
        try { Directory.Delete(Dir, recursive: true); } catch (IOException) { }
        GC.SuppressFinalize(this);
    }

    protected string PathOf(string name) => Path.Combine(Dir, name);

    /// <summary>Every element's raw bits, row-major, read through index arithmetic (independent of the writer).</summary>
    protected static ulong[] Bits(Tensor t)
    {
        t = t.To(Device.Cpu);
        return TensorGen.Indices(t.ShapeArray()).Select(i => t.DType switch
        {
            DType.Float32 => (ulong)BitConverter.SingleToUInt32Bits(t.Get<float>(i)),
            DType.Float64 => BitConverter.DoubleToUInt64Bits(t.Get<double>(i)),
            DType.Int32 => (ulong)(uint)t.Get<int>(i),
            DType.Int64 => (ulong)t.Get<long>(i),
            DType.Bool => t.Get<bool>(i) ? 1UL : 0UL,
            _ => throw new NotSupportedException(),
        }).ToArray();
    }

    protected static void AssertBitIdentical(Tensor expected, Tensor actual, string name)
    {
        Assert.True(expected.DType == actual.DType, $"{name}: dtype {actual.DType} != {expected.DType}");
        Assert.True(expected.Shape.SequenceEqual(actual.Shape), $"{name}: shape {ShapeUtil.Format(actual.Shape)} != {ShapeUtil.Format(expected.Shape)}");
        Assert.True(Bits(expected).SequenceEqual(Bits(actual)), $"{name}: bits differ");
    }

    /// <summary>A safetensors file from a header text and data; <paramref name="headerLength"/> overrides N.</summary>
    protected static byte[] Build(string json, byte[]? data = null, ulong? headerLength = null)
    {
        var h = Encoding.UTF8.GetBytes(json);
        data ??= [];
        var bytes = new byte[8 + h.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, headerLength ?? (ulong)h.Length);
        h.CopyTo(bytes, 8);
        data.CopyTo(bytes, 8 + h.Length);
        return bytes;
    }

    /// <summary>A valid file laid out in the given order: (name, dtype, shape, raw bytes).</summary>
    protected static byte[] BuildTensors(params (string Name, string DType, int[] Shape, byte[] Data)[] tensors)
    {
        var json = new StringBuilder("{");
        long off = 0;
        foreach (var (name, dtype, shape, data) in tensors)
        {
            if (json.Length > 1) json.Append(',');
            json.Append($"\"{name}\":{{\"dtype\":\"{dtype}\",\"shape\":[{string.Join(",", shape)}],\"data_offsets\":[{off},{off + data.Length}]}}");
            off += data.Length;
        }
        json.Append('}');
        return Build(json.ToString(), tensors.SelectMany(t => t.Data).ToArray());
    }

    protected static byte[] Serialize(IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var ms = new MemoryStream();
        SafeTensors.Write(ms, tensors, metadata);
        return ms.ToArray();
    }

    /// <summary>A stream that cannot seek and hands out at most a few bytes per Read, as pipes and sockets may.</summary>
    protected sealed class TrickleStream(byte[] data, long seed) : Stream
    {
        private readonly Random _rng = new SeededRandom(seed);
        private int _pos;
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));
        public override int Read(Span<byte> buffer)
        {
            int n = Math.Min(Math.Min(buffer.Length, data.Length - _pos), _rng.Next(1, 4096));
            data.AsSpan(_pos, n).CopyTo(buffer);
            _pos += n;
            return n;
        }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}

/// <summary>Round trips: every dtype, 0-d, empty, every layout, special float bits, metadata, streams, devices.</summary>
public class SafeTensorsRoundTripTests : SafeTensorsTestBase
{
    private static readonly DType[] AllDTypes = Enum.GetValues<DType>();

    private static readonly uint[] SpecialFloatBits =
        [0x7FC00000, 0x7FC00001, 0xFFC12345, 0x7F800001 /* signalling NaN */, 0x80000000 /* -0 */, 0x7F800000, 0xFF800000, 0x00000001, 0x807FFFFF];

    private static readonly ulong[] SpecialDoubleBits =
        [0x7FF8000000000000, 0x7FF8000000000001, 0xFFF0DEADBEEF0001 /* NaN with payload */, 0x7FF0000000000001, 0x8000000000000000,
         0x7FF0000000000000, 0xFFF0000000000000, 0x0000000000000001, 0x800FFFFFFFFFFFFF];

    /// <summary>Overwrites a contiguous cpu tensor's storage with random bit patterns (and some special values).</summary>
    private static void FillRandomBits(Tensor t, Random rng)
    {
        switch (t.Storage)
        {
            case CpuStorage<float> s:
                for (int i = 0; i < s.Length; i++)
                    s.Data[i] = BitConverter.UInt32BitsToSingle(rng.Next(4) == 0 ? SpecialFloatBits[rng.Next(SpecialFloatBits.Length)] : (uint)rng.NextInt64(0, 1L << 32));
                break;
            case CpuStorage<double> s:
                for (int i = 0; i < s.Length; i++)
                    s.Data[i] = BitConverter.UInt64BitsToDouble(rng.Next(4) == 0 ? SpecialDoubleBits[rng.Next(SpecialDoubleBits.Length)] : (ulong)rng.NextInt64() ^ ((ulong)rng.Next(2) << 63));
                break;
            case CpuStorage<int> s:
                for (int i = 0; i < s.Length; i++) s.Data[i] = rng.Next(4) == 0 ? (rng.Next(2) == 0 ? int.MinValue : int.MaxValue) : (int)rng.NextInt64(int.MinValue, int.MaxValue + 1L);
                break;
            case CpuStorage<long> s:
                for (int i = 0; i < s.Length; i++) s.Data[i] = rng.Next(4) == 0 ? (rng.Next(2) == 0 ? long.MinValue : long.MaxValue) : rng.NextInt64() - rng.NextInt64();
                break;
            case CpuStorage<bool> s:
                for (int i = 0; i < s.Length; i++) s.Data[i] = rng.Next(2) == 0;
                break;
        }
    }

    private static byte[] RawBytes<T>(Tensor t) where T : unmanaged
        => System.Runtime.InteropServices.MemoryMarshal.AsBytes(t.ToArray<T>().AsSpan()).ToArray();

    private static Tensor RandomTensor(Random rng, DType dtype)
    {
        var shape = TensorGen.RandomShape(rng);
        if (shape.Length > 0 && rng.Next(5) == 0) shape[rng.Next(shape.Length)] = 0; // empty
        var layout = TensorGen.AllLayouts[rng.Next(TensorGen.AllLayouts.Length)];
        var (baseTensor, view) = TensorGen.RandomView(rng, shape, dtype, layout);
        FillRandomBits(baseTensor, rng);
        return view(baseTensor);
    }

    private static string RandomText(Random rng, int maxLength)
    {
        string[] pieces = ["a", "Z", "0", ".", "/", " ", "\"", "\\", "\n", "\t", "\u0001", "é", "ß", "中", "🙂", "{", "}", ":", ",", "'", "<", "&", "__metadata_"];
        var sb = new StringBuilder();
        int n = rng.Next(0, maxLength + 1);
        for (int i = 0; i < n; i++) sb.Append(pieces[rng.Next(pieces.Length)]);
        return sb.ToString();
    }

    /// <summary>The order Save promises: the dictionary's order, stably grouped by element size (8, 4, 1 bytes).</summary>
    private static List<string> ExpectedOrder(IReadOnlyDictionary<string, Tensor> d)
        => d.OrderByDescending(kv => kv.Value.DType.SizeOf()).Select(kv => kv.Key).ToList();

    private void AssertRoundTrip(IReadOnlyDictionary<string, Tensor> expected, IReadOnlyDictionary<string, string>? metadata, SafeTensorsFile loaded)
    {
        Assert.Equal(ExpectedOrder(expected), loaded.Tensors.Keys.ToList());
        foreach (var (name, t) in expected)
        {
            var got = loaded.Tensors[name];
            Assert.True(got.IsContiguous || got.NumElements == 0); // (Tensor.IsContiguous is false for some empty shapes)
            Assert.Equal(Device.Cpu, got.Device);
            AssertBitIdentical(t, got, name);
        }
        Assert.Equal((metadata ?? new Dictionary<string, string>()).OrderBy(kv => kv.Key, StringComparer.Ordinal),
            loaded.Metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal));
    }

    [Property(MaxTest = 60)]
    public void RandomDictionariesRoundTripBitIdentical(long seed)
    {
        var rng = new SeededRandom(seed);
        var tensors = new OrderedTensorDict();
        int count = rng.Next(0, 7);
        for (int i = 0; i < count; i++)
            tensors.Add(RandomText(rng, 4) + "#" + i, RandomTensor(rng, AllDTypes[rng.Next(AllDTypes.Length)]));
        Dictionary<string, string>? metadata = null;
        if (rng.Next(2) == 0)
        {
            metadata = [];
            for (int i = rng.Next(0, 4); i > 0; i--) metadata[RandomText(rng, 6)] = RandomText(rng, 12);
        }

        SafeTensorsFile loaded;
        switch (rng.Next(3))
        {
            case 0:
                var path = PathOf("random.safetensors");
                SafeTensors.Save(path, tensors, metadata);
                loaded = SafeTensors.Load(path);
                break;
            case 1:
                loaded = SafeTensors.Read(new MemoryStream(Serialize(tensors, metadata)));
                break;
            default:
                loaded = SafeTensors.Read(new TrickleStream(Serialize(tensors, metadata), seed));
                break;
        }
        AssertRoundTrip(tensors, metadata, loaded);
    }

    [Fact]
    public void EveryDTypeZeroDEmptyAndNonContiguousRoundTrip()
    {
        var f32 = Tensor.FromArray(SpecialFloatBits.Select(BitConverter.UInt32BitsToSingle).ToArray(), [3, 3]);
        var f64 = Tensor.FromArray(SpecialDoubleBits.Select(BitConverter.UInt64BitsToDouble).ToArray(), [9]);
        var tensors = new OrderedTensorDict
        {
            { "bool_0d", Tensor.FromArray(new[] { true }, []) },
            { "f32_special_T", f32.T },
            { "i32_0d", Tensor.FromArray(new[] { int.MinValue }, []) },
            { "f64_special_stepped", f64.Slice(0, 1, 9, 2) },
            { "i64_0d", Tensor.FromArray(new[] { long.MinValue }, []) },
            { "f32_0d_neg_zero", Tensor.FromArray(new[] { -0.0f }, []) },
            { "f64_0d_nan_payload", Tensor.FromArray(new[] { BitConverter.UInt64BitsToDouble(0x7FF4000000000123) }, []) },
            { "f32_empty", Tensor.Zeros([0], DType.Float32) },
            { "i64_empty_2x0x3", Tensor.Zeros([2, 0, 3], DType.Int64) },
            { "bool_empty", Tensor.Zeros([0, 4], DType.Bool) },
            { "bool_mask_permuted", Tensor.FromArray(new[] { true, false, false, true, true, false }, [2, 3]).Permute(1, 0) },
            { "i32_expanded", Tensor.FromArray(new[] { 7, -8 }, [2, 1]).Expand(2, 3) },
            { "i64_matrix_T", Tensor.FromArray(new long[] { 1, long.MaxValue, -3, 4, 5, 6 }, [2, 3]).T },
        };
        var bytes = Serialize(tensors);
        var loaded = SafeTensors.Read(new MemoryStream(bytes), "mem");
        AssertRoundTrip(tensors, null, loaded);

        // Layout promises: header padded to 8, begins with '{', every tensor aligned to its element size.
        var header = SafeTensors.ReadHeader(new MemoryStream(bytes));
        Assert.Equal(0, header.HeaderBytes % 8);
        Assert.Equal((byte)'{', bytes[8]);
        Assert.Equal(bytes.Length, 8 + header.HeaderBytes + header.DataBytes);
        foreach (var e in header.Entries)
        {
            Assert.Equal(0, e.Begin % e.LoadedAs.SizeOf());
            Assert.Equal(e.NumElements * (long)e.LoadedAs.SizeOf(), e.End - e.Begin);
        }
        Assert.Equal(["F64", "I64", "F64", "I64", "I64", "F32", "I32", "F32", "F32", "I32", "BOOL", "BOOL", "BOOL"],
            header.Entries.Select(e => e.DType));
    }

    [Fact]
    public void TensorsLargerThanOneChunkRoundTrip()
    {
        // The reader and writer move data in 4 MiB pieces; these tensors span several, with odd remainders.
        var rng = new Random(7);
        var f32 = Tensor.Zeros([1_500_001], DType.Float32);
        var f64 = Tensor.Zeros([3, 200_001], DType.Float64);
        var mask = Tensor.Zeros([5_000_003], DType.Bool);
        foreach (var t in new[] { f32, f64, mask }) FillRandomBits(t, rng);
        var tensors = new OrderedTensorDict { { "mask", mask }, { "f32", f32 }, { "f64_T", f64.T } };
        var path = PathOf("large.safetensors");
        SafeTensors.Save(path, tensors);
        var bytes = File.ReadAllBytes(path);
        foreach (var loaded in new[] { SafeTensors.Load(path), SafeTensors.Read(new TrickleStream(bytes, 5)) })
        {
            Assert.Equal(ExpectedOrder(tensors), loaded.Tensors.Keys);
            // Whole-array raw comparison (the per-element index walk of AssertBitIdentical is slow at this size).
            Assert.True(RawBytes<bool>(mask).SequenceEqual(RawBytes<bool>(loaded.Tensors["mask"])));
            Assert.True(RawBytes<float>(f32).SequenceEqual(RawBytes<float>(loaded.Tensors["f32"])));
            Assert.True(RawBytes<double>(f64.T).SequenceEqual(RawBytes<double>(loaded.Tensors["f64_T"])));
            Assert.Equal(f64.T.ShapeArray(), loaded.Tensors["f64_T"].ShapeArray());
        }

        var u8 = new byte[9_000_001];
        rng.NextBytes(u8);
        var u8Loaded = SafeTensors.Read(new TrickleStream(BuildTensors(("u8", "U8", [u8.Length], u8)), 6)).Tensors["u8"];
        Assert.True(u8.Select(b => (int)b).SequenceEqual(u8Loaded.ToArray<int>()));
    }

    [Fact]
    public void MetadataRoundTripsAndEmptyMetadataIsOmitted()
    {
        var tensors = new OrderedTensorDict { { "x", Tensor.Arange(5, DType.Float32) } };
        var metadata = new Dictionary<string, string>
        {
            ["format"] = "pt",
            ["empty"] = "",
            ["json"] = "{\"op\": \"conv2d\", \"stride\": [1, 2]}",
            ["unicode ключ 🙂"] = "line1\nline2\t\u0000end",
        };
        var path = PathOf("meta.safetensors");
        SafeTensors.Save(path, tensors, metadata);
        var loaded = SafeTensors.Load(path);
        Assert.Equal(metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal), loaded.Metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal));
        Assert.Equal(metadata.Count, SafeTensors.ReadHeader(path).Metadata.Count);

        SafeTensors.Save(path, tensors, new Dictionary<string, string>());
        Assert.DoesNotContain("__metadata__", Encoding.UTF8.GetString(File.ReadAllBytes(path)));
        Assert.Empty(SafeTensors.Load(path).Metadata);
    }

    [Fact]
    public void EmptyDictionaryRoundTrips()
    {
        var bytes = Serialize(new OrderedTensorDict());
        Assert.Equal(16, bytes.Length); // length field + "{}" padded to 8
        Assert.Empty(SafeTensors.Read(new MemoryStream(bytes)).Tensors);
    }

    [Fact]
    public void ReadsFromTheStreamsCurrentPosition()
    {
        var tensors = new OrderedTensorDict { { "w", Tensor.Arange(6, DType.Int64).Reshape(2, 3) } };
        var prefix = new byte[13];
        var ms = new MemoryStream([.. prefix, .. Serialize(tensors)]) { Position = prefix.Length };
        AssertRoundTrip(tensors, null, SafeTensors.Read(ms));
    }

    [Fact]
    public void HeaderPaddingWithWhitespaceIsAccepted()
    {
        var data = new byte[8];
        BinaryPrimitives.WriteDoubleLittleEndian(data, 2.5);
        var bytes = Build("{\"x\":{\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[0,8]}}" + new string(' ', 37) + "\n\t ", data);
        var loaded = SafeTensors.Read(new MemoryStream(bytes));
        Assert.Equal(2.5, loaded.Tensors["x"].Item());
    }

    [Fact]
    public void WidenedDTypesLoadExactly()
    {
        byte[] Le16(params ushort[] v) => v.SelectMany(x => { var b = new byte[2]; BinaryPrimitives.WriteUInt16LittleEndian(b, x); return b; }).ToArray();
        byte[] Le32(params uint[] v) => v.SelectMany(x => { var b = new byte[4]; BinaryPrimitives.WriteUInt32LittleEndian(b, x); return b; }).ToArray();
        float[] halves = [1.5f, -0.0f, float.PositiveInfinity, 65504f, 5.9604645e-8f /* smallest subnormal */];
        float[] bf = [3.140625f, -2.0f, MathF.ScaleB(1f, 100), float.NegativeInfinity]; // bf16-exact values
        var bytes = BuildTensors(
            ("u8", "U8", [3], [0, 200, 255]),
            ("i8", "I8", [3], [0x80, 0x7F, 0xFF]),
            ("u16", "U16", [2], Le16(0, 65535)),
            ("i16", "I16", [2], Le16(0x8000, 0x7FFF)),
            ("u32", "U32", [2], Le32(0, uint.MaxValue)),
            ("f16", "F16", [5], Le16(halves.Select(h => BitConverter.HalfToUInt16Bits((Half)h)).ToArray())),
            ("bf16", "BF16", [2, 2], Le16(bf.Select(f => (ushort)(BitConverter.SingleToUInt32Bits(f) >> 16)).ToArray())));
        var t = SafeTensors.Read(new MemoryStream(bytes)).Tensors;
        Assert.Equal([0, 200, 255], t["u8"].ToArray<int>());
        Assert.Equal([-128, 127, -1], t["i8"].ToArray<int>());
        Assert.Equal([0, 65535], t["u16"].ToArray<int>());
        Assert.Equal([-32768, 32767], t["i16"].ToArray<int>());
        Assert.Equal([0L, uint.MaxValue], t["u32"].ToArray<long>());
        Assert.Equal(halves.Select(BitConverter.SingleToUInt32Bits), t["f16"].ToArray<float>().Select(BitConverter.SingleToUInt32Bits));
        Assert.Equal(bf.Select(BitConverter.SingleToUInt32Bits), t["bf16"].ToArray<float>().Select(BitConverter.SingleToUInt32Bits));
        Assert.Equal([2, 2], t["bf16"].ShapeArray());
        var header = SafeTensors.ReadHeader(new MemoryStream(bytes));
        Assert.Equal([DType.Int32, DType.Int32, DType.Int32, DType.Int32, DType.Int64, DType.Float32, DType.Float32], header.Entries.Select(e => e.LoadedAs));
    }

    [Fact]
    public void DeviceTensorsAreWrittenAndLoadedOntoADevice()
    {
        var fake = FakeBackend.Instance.Device;
        var tensors = new OrderedTensorDict
        {
            { "w", Tensor.FromArray(new[] { 1f, -2f, 3f, float.NaN }, [2, 2], fake) },
            { "n", Tensor.FromArray(new[] { 9L }, [], fake) },
        };
        var path = PathOf("device.safetensors");
        SafeTensors.Save(path, tensors);
        var onCpu = SafeTensors.Load(path);
        AssertRoundTrip(tensors, null, onCpu);
        var onFake = SafeTensors.Load(path, fake);
        Assert.All(onFake.Tensors.Values, t => Assert.Equal(fake, t.Device));
        AssertBitIdentical(tensors["w"], onFake.Tensors["w"], "w");
    }

    [Fact]
    public void TensorsThatRequireGradAreSavedWithoutRecording()
    {
        var w = Tensor.FromArray(new[] { 1f, 2f, 3f, 4f, 5f, 6f }, [2, 3]).RequireGrad();
        var loaded = SafeTensors.Read(new MemoryStream(Serialize(new OrderedTensorDict { { "w", w.T } })));
        AssertBitIdentical(w.T, loaded.Tensors["w"], "w");
        Assert.False(loaded.Tensors["w"].RequiresGrad);
    }
}

/// <summary>Module state dicts through a file, and the PyTorch-written golden files.</summary>
public class SafeTensorsModuleAndGoldenTests : SafeTensorsTestBase
{
    private sealed class Block : Module
    {
        public Block(Random rng)
        {
            // A non-contiguous parameter: saved contiguously, loaded back into the same logical values.
            RegisterParameter("weight", Tensor.FromArray(Floats(rng, 6), [3, 2]).T);
            RegisterBuffer("mask", Tensor.FromArray(Enumerable.Range(0, 4).Select(_ => rng.Next(2) == 0).ToArray(), [2, 2]));
        }
    }

    private sealed class Tiny : Module
    {
        public Tiny(long seed)
        {
            var rng = new SeededRandom(seed);
            RegisterParameter("weight", Tensor.FromArray(Floats(rng, 12), [3, 4]));
            RegisterParameter("bias", Tensor.FromArray(Floats(rng, 3), [3]));
            RegisterBuffer("running_mean", Tensor.FromArray(Enumerable.Range(0, 3).Select(_ => rng.NextDouble() - 0.5).ToArray(), [3]));
            RegisterBuffer("num_batches_tracked", Tensor.FromArray(new[] { (long)seed }, []));
            RegisterBuffer("ids", Tensor.FromArray(new[] { seed, -seed }, [2]));
            RegisterBuffer("scratch", Tensor.FromArray(new[] { (float)seed }, [1]), persistent: false);
            RegisterModule("block", new Block(rng));
        }
    }

    private static float[] Floats(Random rng, int n) => Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();

    [Fact]
    public void ModuleStateDictSavedAndLoadedIntoAFreshModuleIsBitIdentical()
    {
        var source = new Tiny(1);
        var path = PathOf("tiny.safetensors");
        SafeTensors.Save(path, source.StateDict(), new Dictionary<string, string> { ["format"] = "pt" });

        var target = new Tiny(2);
        var before = target.Parameters().ToList();
        var file = SafeTensors.Load(path);
        Assert.Equal(source.StateDict().Keys.Order(StringComparer.Ordinal), file.Tensors.Keys.Order(StringComparer.Ordinal));
        var result = target.LoadStateDict(file.Tensors);
        Assert.Empty(result.MissingKeys);
        Assert.Empty(result.UnexpectedKeys);

        foreach (var (name, t) in source.StateDict())
            AssertBitIdentical(t, target.StateDict()[name], name);
        Assert.Equal(before, target.Parameters().ToList()); // loaded in place: same tensor objects
        Assert.All(target.Parameters(), p => Assert.True(p.RequiresGrad));
        Assert.Equal(2f, target.NamedBuffers().Single(b => b.Name == "scratch").Buffer.Item()); // non-persistent: untouched
    }

    [Fact]
    public void GoldenFilesAllLoadAndMatchTheTestReader()
    {
        var files = Directory.GetFiles(Golden.Dir, "*.safetensors").OrderBy(f => f, StringComparer.Ordinal).ToArray();
        Assert.Equal(10, files.Length);
        int tensors = 0;
        foreach (var path in files)
        {
            var loaded = SafeTensors.Load(path);
            var reference = Golden.Load(Path.GetFileName(path));
            Assert.Equal(reference.Count, loaded.Tensors.Count);
            foreach (var (name, entry) in reference)
            {
                var t = loaded.Tensors[name];
                Assert.True(t.DType is DType.Float64 or DType.Int64, $"{name}: {t.DType}");
                Assert.Equal(entry.Shape, t.ShapeArray());
                Assert.Equal(entry.Values, t.ToDoubleArray());
                tensors++;
            }
            Assert.Contains("_cases", loaded.Metadata.Keys);
            foreach (var c in loaded.Metadata["_cases"].Split(','))
                Assert.Contains(loaded.Tensors.Keys, k => k.StartsWith(c + "/", StringComparison.Ordinal));

            var header = SafeTensors.ReadHeader(path);
            Assert.Equal(new FileInfo(path).Length, 8 + header.HeaderBytes + header.DataBytes);
            Assert.Equal(header.Entries.Select(e => e.Name), loaded.Tensors.Keys);

            // Re-saved by Sparkle, the file reads back identically.
            var again = SafeTensors.Read(new MemoryStream(Serialize(loaded.Tensors, loaded.Metadata)));
            foreach (var (name, t) in loaded.Tensors) AssertBitIdentical(t, again.Tensors[name], name);
            Assert.Equal(loaded.Metadata, again.Metadata);
        }
        Assert.Equal(55, files.Sum(f => SafeTensors.Load(f).Metadata["_cases"].Split(',').Length));
        Assert.True(tensors > 300);

        // A couple of values spelled out.
        var losses = SafeTensors.Load(Path.Combine(Golden.Dir, "losses.safetensors")).Tensors;
        Assert.Equal(DType.Int64, losses["cross_entropy/target"].DType);
        Assert.Equal(0, losses["cross_entropy/out"].Rank);
        Assert.Equal(Golden.Load("losses.safetensors")["cross_entropy/out"].Values[0], losses["cross_entropy/out"].Item());
        var bn = SafeTensors.Load(Path.Combine(Golden.Dir, "batch_norm.safetensors")).Tensors;
        Assert.Equal(1L, bn["batch_norm2d_train/num_batches_tracked_after"].Get<long>());
        var linear = SafeTensors.Load(Path.Combine(Golden.Dir, "linear.safetensors")).Tensors["linear_2d/weight"];
        Assert.Equal(Golden.Load("linear.safetensors")["linear_2d/weight"].Values[^1], linear.GetDouble(-1, -1));
    }
}

/// <summary>Atomic saves: a failing write leaves the target as it was and no temporary file behind.</summary>
public class SafeTensorsAtomicWriteTests : SafeTensorsTestBase
{
    /// <summary>A tensor whose data cannot be fetched: a non-contiguous view on the fake device, which has no copy
    /// kernel. The failure comes after the header and the first tensor's data have been written.</summary>
    private static OrderedTensorDict FailingDict() => new()
    {
        { "good", Tensor.FromArray(new double[1000], [1000]) },
        { "bad", Tensor.FromArray(new[] { 1f, 2f, 3f, 4f, 5f, 6f }, [2, 3], FakeBackend.Instance.Device).T },
    };

    [Fact]
    public void FailingWriteLeavesAnExistingFileUntouched()
    {
        var path = PathOf("model.safetensors");
        SafeTensors.Save(path, new OrderedTensorDict { { "w", Tensor.Arange(4, DType.Float32) } });
        var original = File.ReadAllBytes(path);

        Assert.Throws<NotSupportedException>(() => SafeTensors.Save(path, FailingDict()));

        Assert.Equal(original, File.ReadAllBytes(path));
        Assert.Equal([path], Directory.GetFiles(Dir)); // no temporary left behind
        Assert.Equal([0f, 1f, 2f, 3f], SafeTensors.Load(path).Tensors["w"].ToArray<float>());
    }

    [Fact]
    public void FailingWriteCreatesNoFile()
    {
        var path = PathOf("new.safetensors");
        Assert.Throws<NotSupportedException>(() => SafeTensors.Save(path, FailingDict()));
        Assert.Empty(Directory.GetFiles(Dir));
    }

    [Fact]
    public void InvalidArgumentsWriteNothing()
    {
        var path = PathOf("args.safetensors");
        var reserved = new OrderedTensorDict { { "__metadata__", Tensor.Zeros([1]) } };
        Assert.Contains("reserved", Assert.Throws<ArgumentException>(() => SafeTensors.Save(path, reserved)).Message);
        Assert.Empty(Directory.GetFiles(Dir));
    }

    [Fact]
    public void SaveReplacesAnExistingFile()
    {
        var path = PathOf("model.safetensors");
        SafeTensors.Save(path, new OrderedTensorDict { { "a", Tensor.Zeros([100]) } });
        SafeTensors.Save(path, new OrderedTensorDict { { "b", Tensor.Ones([2], DType.Int64) } });
        var loaded = SafeTensors.Load(path);
        Assert.Equal(["b"], loaded.Tensors.Keys);
        Assert.Equal([1L, 1L], loaded.Tensors["b"].ToArray<long>());
        Assert.Equal([path], Directory.GetFiles(Dir));
    }
}

/// <summary>Malformed files, one per rule; each message names the file, the problem and the tensor.</summary>
public class SafeTensorsMalformedTests : SafeTensorsTestBase
{
    private const string W = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";

    /// <summary>Loads the bytes from a file and from a seekable stream; both must fail with the same message
    /// (prefixed by their names) containing every fragment.</summary>
    private SafeTensorsFormatException Fails(byte[] bytes, params string[] fragments) => Fails(bytes, true, fragments);

    private SafeTensorsFormatException Fails(byte[] bytes, bool headerFails, params string[] fragments)
    {
        var path = PathOf("bad.safetensors");
        File.WriteAllBytes(path, bytes);
        var ex = Assert.Throws<SafeTensorsFormatException>(() => SafeTensors.Load(path));
        Assert.StartsWith(path + ": ", ex.Message);
        Assert.Equal(path, ex.FileName);
        foreach (var f in fragments) Assert.Contains(f, ex.Message);

        var fromStream = Assert.Throws<SafeTensorsFormatException>(() => SafeTensors.Read(new MemoryStream(bytes), "mem"));
        Assert.Equal("mem: " + ex.Message[(path.Length + 2)..], fromStream.Message);
        Assert.Equal(ex.TensorName, fromStream.TensorName);
        if (headerFails) Assert.Throws<SafeTensorsFormatException>(() => SafeTensors.ReadHeader(new MemoryStream(bytes)));
        else SafeTensors.ReadHeader(new MemoryStream(bytes)); // a problem in the data, not the header
        return ex;
    }

    private static byte[] ValidFile() => Serialize(new OrderedTensorDict
    {
        { "a", Tensor.FromArray(new[] { 1.0, 2.0, 3.0 }) },
        { "b", Tensor.FromArray(new[] { 4f, 5f }) },
    });

    [Fact]
    public void EmptyFile() => Fails([], "the file is empty");

    [Fact]
    public void TruncatedHeaderLength() => Fails([16, 0, 0, 0, 0], "the file is 5 bytes long, too short for the 8-byte header length");

    [Fact]
    public void HeaderLengthBeyondTheLimit()
    {
        Fails(Build(W, new byte[8], headerLength: 100_000_001), "the header length 100000001 exceeds the limit of 100000000 bytes");
        Fails(Build(W, new byte[8], headerLength: ulong.MaxValue), $"the header length {ulong.MaxValue} exceeds the limit");
    }

    [Fact]
    public void HeaderLengthBeyondTheFileSize()
    {
        var bytes = Build(W, new byte[8], headerLength: 1000);
        Fails(bytes, "the header length 1000 runs past the end of the file", $"({bytes.Length} bytes");
    }

    [Fact]
    public void BadJson() => Fails(Build("{\"w\":{\"dtype\":\"F32\",", new byte[8]), "the header is not valid JSON");

    [Fact]
    public void JsonNotAnObject()
    {
        Fails(Build("[1, 2]"), "the header must be a JSON object, found an array");
        Fails(Build("\"w\""), "found a string");
    }

    [Fact]
    public void HeaderNotStartingWithABrace() => Fails(Build(" " + W, new byte[8]), "the header must begin with '{'");

    [Fact]
    public void EmptyHeader() => Fails(Build(""), "the header is not valid JSON");

    [Fact]
    public void HeaderNotUtf8()
    {
        var bytes = Build("{\"w?\":1}");
        bytes[8 + 3] = 0xFF;
        Fails(bytes, "the header is not valid UTF-8");
    }

    [Theory]
    [InlineData("dtype", "{\"w\":{\"shape\":[2],\"data_offsets\":[0,8]}}")]
    [InlineData("shape", "{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}")]
    [InlineData("data_offsets", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2]}}")]
    public void MissingField(string field, string json)
    {
        var ex = Fails(Build(json, new byte[8]), $"tensor 'w' has no \"{field}\" field");
        Assert.Equal("w", ex.TensorName);
    }

    [Fact]
    public void FieldsOfTheWrongType()
    {
        Fails(Build("{\"w\":{\"dtype\":4,\"shape\":[2],\"data_offsets\":[0,8]}}", new byte[8]), "tensor 'w': \"dtype\" must be a string, found a number");
        Fails(Build("{\"w\":{\"dtype\":\"F32\",\"shape\":\"2\",\"data_offsets\":[0,8]}}", new byte[8]), "tensor 'w': \"shape\" must be an array of integers, found a string");
        Fails(Build("{\"w\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}", new byte[8]), "tensor 'w': shape[0] must be an integer, found 2.5");
        Fails(Build("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":{}}}", new byte[8]), "\"data_offsets\" must be an array [begin, end] of two integers, found {}");
        Fails(Build("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", new byte[8]), "found [0]");
        Fails(Build("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,\"8\"]}}", new byte[8]), "data_offsets[1] must be an integer, found \"8\"");
        Fails(Build("{\"w\":[0,8]}", new byte[8]), "tensor 'w': its entry must be an object", "found an array");
    }

    [Fact]
    public void UnknownDType()
    {
        var ex = Fails(Build("{\"w\":{\"dtype\":\"F17\",\"shape\":[2],\"data_offsets\":[0,8]}}", new byte[8]), "tensor 'w' has unknown dtype 'F17'");
        Assert.Equal("w", ex.TensorName);
        Fails(Build("{\"w\":{\"dtype\":\"f32\",\"shape\":[2],\"data_offsets\":[0,8]}}", new byte[8]), "unknown dtype 'f32'"); // names are case-sensitive
    }

    [Fact]
    public void KnownDTypesSparkleCannotLoad()
    {
        Fails(Build("{\"w\":{\"dtype\":\"U64\",\"shape\":[1],\"data_offsets\":[0,8]}}", new byte[8]), "tensor 'w' has dtype U64, which Sparkle cannot load");
        Fails(Build("{\"w\":{\"dtype\":\"F8_E4M3\",\"shape\":[8],\"data_offsets\":[0,8]}}", new byte[8]), "dtype F8_E4M3, which Sparkle cannot load");
    }

    [Fact]
    public void NegativeShape() => Fails(Build("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,-3],\"data_offsets\":[0,8]}}", new byte[8]), "tensor 'w': shape[1] is negative (-3)");

    [Fact]
    public void TooManyElementsForSparkle()
        => Fails(Build("{\"w\":{\"dtype\":\"F32\",\"shape\":[100000,100000],\"data_offsets\":[0,40000000000]}}", new byte[8]),
            "tensor 'w' has shape (100000, 100000), more elements than a Sparkle tensor can hold");

    [Fact]
    public void DimensionTooLargeForSparkle()
        => Fails(Build("{\"w\":{\"dtype\":\"F32\",\"shape\":[0,3000000000],\"data_offsets\":[0,0]}}"), "shape[1] = 3000000000 is larger than a Sparkle dimension can be");

    [Fact]
    public void OffsetsOutOfRange()
    {
        var ex = Fails(Build("{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", new byte[8]),
            "tensor 'w' spans data bytes [0, 16) but only 8 bytes of data follow the header", "out of range");
        Assert.Equal("w", ex.TensorName);
        Fails(Build("{\"w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[18446744073709551615,18446744073709551615]}}"),
            "tensor 'w': data_offsets[0] = 18446744073709551615 is out of range");
        Fails(Build("{\"w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[-4,-4]}}"), "tensor 'w': data_offsets[0] is negative (-4)");
    }

    [Fact]
    public void BeginAfterEnd()
        => Fails(Build("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", new byte[8]), "tensor 'w' has data_offsets [8, 4] with begin > end");

    [Fact]
    public void OverlappingSpans()
    {
        var ex = Fails(Build("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", new byte[12]),
            "tensor 'b' spans bytes [4, 12), which overlaps tensor 'a' at [0, 8)");
        Assert.Equal("b", ex.TensorName);
        // The same span twice.
        Fails(Build("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,8]}}", new byte[8]),
            "tensor 'b' spans bytes [0, 8), which overlaps tensor 'a'");
    }

    [Fact]
    public void HoleBetweenSpans()
    {
        Fails(Build("{\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]},\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", new byte[20]),
            "data bytes [8, 12) belong to no tensor", "between tensor 'a' (ends at 8) and tensor 'b' (starts at 12)");
        Fails(Build("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", new byte[12]), "data bytes [0, 4) belong to no tensor", "tensor 'a', the first in data order, starts at byte 4");
    }

    [Fact]
    public void SpanSizeNotMatchingShapeTimesDTypeSize()
    {
        var ex = Fails(Build("{\"layer1.0.conv1.weight\":{\"dtype\":\"F32\",\"shape\":[3,3],\"data_offsets\":[64,128]}}", new byte[128]),
            "tensor 'layer1.0.conv1.weight' spans bytes [64, 128) (64 bytes) but shape (3, 3) of F32 needs 36 bytes");
        Assert.Equal("layer1.0.conv1.weight", ex.TensorName);
        Fails(Build("{\"s\":{\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[0,4]}}", new byte[4]), "shape () of F64 needs 8 bytes");
    }

    [Fact]
    public void DuplicateKeys()
    {
        Fails(Build("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", new byte[8]),
            "the header has the key 'w' more than once");
        Fails(Build("{\"w\":{\"dtype\":\"F32\",\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,8]}}", new byte[8]), "tensor 'w' has the field \"dtype\" more than once");
        Fails(Build("{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}"), "\"__metadata__\" has the key 'k' more than once");
    }

    [Fact]
    public void BadMetadata()
    {
        Fails(Build("{\"__metadata__\":{\"k\":1}}"), "\"__metadata__\" value of key 'k' must be a string, found a number");
        Fails(Build("{\"__metadata__\":[\"k\"]}"), "\"__metadata__\" must be an object of strings, found an array");
    }

    [Fact]
    public void TrailingBytesAfterTheData()
    {
        var bytes = ValidFile();
        Fails([.. bytes, 1, 2, 3], "3 trailing bytes after the last tensor's data");
        var ex = Assert.Throws<SafeTensorsFormatException>(() => SafeTensors.Read(new TrickleStream([.. bytes, 1, 2, 3], 1), "pipe"));
        Assert.StartsWith("pipe: trailing bytes after the last tensor's data", ex.Message);
    }

    [Fact]
    public void TruncatedFile()
    {
        var bytes = ValidFile();
        var ex = Fails(bytes[..^4], "tensor 'b' spans data bytes [24, 32) but only 28 bytes of data follow the header", "truncated");
        Assert.Equal("b", ex.TensorName);
        var fromPipe = Assert.Throws<SafeTensorsFormatException>(() => SafeTensors.Read(new TrickleStream(bytes[..^4], 2), "pipe"));
        Assert.Equal("pipe: the data ends 4 bytes into tensor 'b', which spans data bytes [24, 32): the file is truncated", fromPipe.Message);
        // Cut inside the header too.
        Fails(bytes[..20], "runs past the end of the file (20 bytes");
    }

    [Fact]
    public void BoolBytesOtherThanZeroOrOne()
    {
        var ex = Fails(BuildTensors(("m", "BOOL", [3], [1, 2, 0])), false, "tensor 'm' (BOOL) holds the byte 2 at element 1");
        Assert.Equal("m", ex.TensorName);
    }

    [Fact]
    public void ALyingHeaderOnAPipeDoesNotAllocateItsClaim()
    {
        // 1.6 GB claimed, 8 bytes present: fails as truncated without allocating the claim.
        var bytes = Build("{\"w\":{\"dtype\":\"F64\",\"shape\":[200000000],\"data_offsets\":[0,1600000000]}}", new byte[8]);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var ex = Assert.Throws<SafeTensorsFormatException>(() => SafeTensors.Read(new TrickleStream(bytes, 3), "pipe"));
        Assert.Contains("truncated", ex.Message);
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 64 << 20);
    }
}
