using Sparkle.Tensors;

namespace Sparkle.Nn.Serialization;

/// <summary>
/// A safetensors file that breaks the format's rules (or holds something Sparkle cannot load). The message starts with
/// the file (or stream) name and names the tensor when one is at fault. An <see cref="IOException"/>
/// (<see cref="InvalidDataException"/>, the natural base, is sealed), so code that handles failed file reads handles it.
/// </summary>
public sealed class SafeTensorsFormatException : IOException
{
    public SafeTensorsFormatException(string fileName, string? tensorName, string problem, Exception? inner = null)
        : base($"{fileName}: {problem}", inner)
    {
        FileName = fileName;
        TensorName = tensorName;
    }

    /// <summary>The path given to Load, or the name given to Read (default "&lt;stream&gt;").</summary>
    public string FileName { get; }

    /// <summary>The tensor whose entry or data is at fault, when the problem concerns one tensor.</summary>
    public string? TensorName { get; }
}

/// <summary>One tensor's header entry, as validated.</summary>
public sealed class SafeTensorsEntry
{
    private readonly int[] _shape;

    internal SafeTensorsEntry(string name, string dtype, int[] shape, long begin, long end, DType loadedAs)
    {
        Name = name;
        DType = dtype;
        _shape = shape;
        Begin = begin;
        End = end;
        LoadedAs = loadedAs;
        NumElements = ShapeUtil.NumElements(shape);
    }

    public string Name { get; }
    /// <summary>The safetensors dtype name ("F32", "U8", ...).</summary>
    public string DType { get; }
    public ReadOnlySpan<int> Shape => _shape;
    internal int[] ShapeRef => _shape;
    public int NumElements { get; }
    /// <summary>First byte of the tensor's data, counted from the first byte after the header.</summary>
    public long Begin { get; }
    /// <summary>One past the last byte of the tensor's data.</summary>
    public long End { get; }
    /// <summary>The Sparkle dtype the tensor loads as (U8 loads as Int32, F16 as Float32, ...).</summary>
    public DType LoadedAs { get; }

    public override string ToString() => $"{Name}: {DType} {ShapeUtil.Format(_shape)} [{Begin}, {End})";
}

/// <summary>A validated header: the entries in data-offset order, the metadata, and sizes.</summary>
public sealed class SafeTensorsHeader
{
    internal SafeTensorsHeader(IReadOnlyList<SafeTensorsEntry> entries, IReadOnlyDictionary<string, string> metadata, long headerBytes, long dataBytes)
    {
        Entries = entries;
        Metadata = metadata;
        HeaderBytes = headerBytes;
        DataBytes = dataBytes;
    }

    /// <summary>The tensors in the order of their data in the file.</summary>
    public IReadOnlyList<SafeTensorsEntry> Entries { get; }
    /// <summary>The "__metadata__" object (empty when the file has none).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }
    /// <summary>N, the JSON header's length in bytes (after the 8-byte length field, padding included).</summary>
    public long HeaderBytes { get; }
    /// <summary>Length of the data region (the end of the last tensor's span).</summary>
    public long DataBytes { get; }
}

/// <summary>What <see cref="SafeTensors.Load"/> and <see cref="SafeTensors.Read"/> return.</summary>
public sealed class SafeTensorsFile
{
    internal SafeTensorsFile(OrderedTensorDict tensors, IReadOnlyDictionary<string, string> metadata)
    {
        Tensors = tensors;
        Metadata = metadata;
    }

    /// <summary>The tensors in the order of their data in the file; pass to <see cref="Module.LoadStateDict"/>.</summary>
    public OrderedTensorDict Tensors { get; }
    /// <summary>The "__metadata__" object (empty when the file has none).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }
}

/// <summary>The safetensors dtype names, their sizes, and what Sparkle loads them as.</summary>
internal static class SafeTensorsDTypes
{
    /// <summary>Every dtype of huggingface/safetensors: name -> (element size in bytes, Sparkle dtype or null when
    /// Sparkle cannot load it). Sub-byte types (F4, F6_*) have size 0 here; they are never loadable.</summary>
    internal static readonly Dictionary<string, (int Size, DType? LoadedAs)> Known = new(StringComparer.Ordinal)
    {
        ["BOOL"] = (1, DType.Bool),
        ["U8"] = (1, DType.Int32),
        ["I8"] = (1, DType.Int32),
        ["I16"] = (2, DType.Int32),
        ["U16"] = (2, DType.Int32),
        ["F16"] = (2, DType.Float32),
        ["BF16"] = (2, DType.Float32),
        ["I32"] = (4, DType.Int32),
        ["U32"] = (4, DType.Int64),
        ["F32"] = (4, DType.Float32),
        ["F64"] = (8, DType.Float64),
        ["I64"] = (8, DType.Int64),
        ["U64"] = (8, null),
        ["C64"] = (8, null),
        ["F8_E5M2"] = (1, null),
        ["F8_E4M3"] = (1, null),
        ["F8_E8M0"] = (1, null),
        ["F6_E2M3"] = (0, null),
        ["F6_E3M2"] = (0, null),
        ["F4"] = (0, null),
    };

    internal const string Loadable = "F32, F64, I32, I64, BOOL (exact); U8, I8, U16, I16 as int32; U32 as int64; F16, BF16 as float32";

    /// <summary>The name Sparkle writes for each of its dtypes.</summary>
    internal static string NameOf(DType d) => d switch
    {
        DType.Bool => "BOOL",
        DType.Int32 => "I32",
        DType.Int64 => "I64",
        DType.Float32 => "F32",
        DType.Float64 => "F64",
        _ => throw new ArgumentOutOfRangeException(nameof(d)),
    };
}
