using System.Text.Json;
using System.Text.Unicode;
using Sparkle.Tensors;

namespace Sparkle.Nn.Serialization;

/// <summary>
/// Parses and validates a safetensors JSON header completely, before any tensor is allocated: well-formed UTF-8
/// JSON object starting with '{', no duplicate keys, "__metadata__" string->string, every entry with a known
/// loadable dtype, a non-negative shape, data_offsets [begin, end] with begin &lt;= end and end - begin equal to
/// numel * dtype size, and the spans, sorted by offset, covering [0, last end) without holes or overlaps.
/// The data region's length is checked by the caller (it depends on the file).
/// </summary>
internal static class SafeTensorsHeaderParser
{
    internal const string MetadataKey = "__metadata__";

    internal static SafeTensorsHeader Parse(byte[] header, string file)
    {
        if (!Utf8.IsValid(header))
            throw Fail(file, null, "the header is not valid UTF-8");
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(header, new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (JsonException e)
        {
            throw Fail(file, null, $"the header is not valid JSON ({e.Message})", e);
        }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw Fail(file, null, $"the header must be a JSON object, found {Kind(root)}");
            if (header[0] != (byte)'{')
                throw Fail(file, null, "the header must begin with '{' (it may be padded with spaces at the end only)");

            var seen = new HashSet<string>(StringComparer.Ordinal);
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var entries = new List<SafeTensorsEntry>();
            foreach (var prop in root.EnumerateObject())
            {
                if (!seen.Add(prop.Name))
                    throw Fail(file, prop.Name == MetadataKey ? null : prop.Name, $"the header has the key '{prop.Name}' more than once");
                if (prop.Name == MetadataKey) ReadMetadata(prop.Value, metadata, file);
                else entries.Add(ReadEntry(prop.Name, prop.Value, file));
            }

            // Offset order; empty tensors sharing an offset keep their header order (List.Sort is not stable).
            var sorted = entries.Select((e, i) => (e, i)).OrderBy(x => x.e.Begin).ThenBy(x => x.e.End).ThenBy(x => x.i)
                .Select(x => x.e).ToList();
            long expected = 0;
            SafeTensorsEntry? previous = null;
            foreach (var e in sorted)
            {
                if (e.Begin > expected)
                    throw Fail(file, e.Name, previous is null
                        ? $"data bytes [0, {e.Begin}) belong to no tensor: tensor '{e.Name}', the first in data order, starts at byte {e.Begin} (the data must start at byte 0 with no holes)"
                        : $"data bytes [{expected}, {e.Begin}) belong to no tensor: a hole between tensor '{previous.Name}' (ends at {expected}) and tensor '{e.Name}' (starts at {e.Begin})");
                if (e.Begin < expected)
                    throw Fail(file, e.Name, $"tensor '{e.Name}' spans bytes [{e.Begin}, {e.End}), which overlaps tensor '{previous!.Name}' at [{previous.Begin}, {previous.End})");
                expected = e.End;
                if (e.End > e.Begin) previous = e;
            }
            return new SafeTensorsHeader(sorted, metadata, header.Length, expected);
        }
    }

    private static void ReadMetadata(JsonElement value, Dictionary<string, string> metadata, string file)
    {
        if (value.ValueKind == JsonValueKind.Null) return;
        if (value.ValueKind != JsonValueKind.Object)
            throw Fail(file, null, $"\"{MetadataKey}\" must be an object of strings, found {Kind(value)}");
        foreach (var p in value.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.String)
                throw Fail(file, null, $"\"{MetadataKey}\" value of key '{p.Name}' must be a string, found {Kind(p.Value)}");
            if (!metadata.TryAdd(p.Name, p.Value.GetString()!))
                throw Fail(file, null, $"\"{MetadataKey}\" has the key '{p.Name}' more than once");
        }
    }

    private static SafeTensorsEntry ReadEntry(string name, JsonElement value, string file)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw Fail(file, name, $"tensor '{name}': its entry must be an object with dtype, shape and data_offsets, found {Kind(value)}");
        var fields = new HashSet<string>(StringComparer.Ordinal);
        foreach (var p in value.EnumerateObject())
            if (!fields.Add(p.Name))
                throw Fail(file, name, $"tensor '{name}' has the field \"{p.Name}\" more than once");

        // dtype
        var dtypeEl = Field(value, "dtype", name, file);
        if (dtypeEl.ValueKind != JsonValueKind.String)
            throw Fail(file, name, $"tensor '{name}': \"dtype\" must be a string, found {Kind(dtypeEl)}");
        string dtype = dtypeEl.GetString()!;
        if (!SafeTensorsDTypes.Known.TryGetValue(dtype, out var info))
            throw Fail(file, name, $"tensor '{name}' has unknown dtype '{dtype}' (safetensors dtypes: {string.Join(", ", SafeTensorsDTypes.Known.Keys)})");
        if (info.LoadedAs is not DType loadedAs)
            throw Fail(file, name, $"tensor '{name}' has dtype {dtype}, which Sparkle cannot load (loadable: {SafeTensorsDTypes.Loadable})");

        // shape
        var shapeEl = Field(value, "shape", name, file);
        if (shapeEl.ValueKind != JsonValueKind.Array)
            throw Fail(file, name, $"tensor '{name}': \"shape\" must be an array of integers, found {Kind(shapeEl)}");
        var shape = new int[shapeEl.GetArrayLength()];
        int k = 0;
        foreach (var d in shapeEl.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out long v))
                throw Fail(file, name, $"tensor '{name}': shape[{k}] must be an integer, found {Raw(d)}");
            if (v < 0)
                throw Fail(file, name, $"tensor '{name}': shape[{k}] is negative ({v})");
            if (v > int.MaxValue)
                throw Fail(file, name, $"tensor '{name}': shape[{k}] = {v} is larger than a Sparkle dimension can be ({int.MaxValue})");
            shape[k++] = (int)v;
        }

        // data_offsets
        var offEl = Field(value, "data_offsets", name, file);
        if (offEl.ValueKind != JsonValueKind.Array || offEl.GetArrayLength() != 2)
            throw Fail(file, name, $"tensor '{name}': \"data_offsets\" must be an array [begin, end] of two integers, found {Raw(offEl)}");
        var offs = new long[2];
        k = 0;
        foreach (var o in offEl.EnumerateArray())
        {
            if (o.ValueKind != JsonValueKind.Number || !o.TryGetInt64(out long v))
            {
                if (o.ValueKind == JsonValueKind.Number && o.TryGetUInt64(out ulong big))
                    throw Fail(file, name, $"tensor '{name}': data_offsets[{k}] = {big} is out of range (at most {long.MaxValue})");
                throw Fail(file, name, $"tensor '{name}': data_offsets[{k}] must be an integer, found {Raw(o)}");
            }
            if (v < 0)
                throw Fail(file, name, $"tensor '{name}': data_offsets[{k}] is negative ({v})");
            offs[k++] = v;
        }
        long begin = offs[0], end = offs[1];
        if (begin > end)
            throw Fail(file, name, $"tensor '{name}' has data_offsets [{begin}, {end}] with begin > end");

        // elements: clamp the running product (every dim fits an int, so Int128 never overflows before the clamp)
        Int128 numel = 1;
        foreach (int d in shape) numel = Int128.Min(numel * d, (Int128)long.MaxValue);
        if (numel > Array.MaxLength)
            throw Fail(file, name, $"tensor '{name}' has shape {ShapeUtil.Format(shape)}, more elements than a Sparkle tensor can hold ({Array.MaxLength})");
        long needed = (long)numel * info.Size;
        if (end - begin != needed)
            throw Fail(file, name, $"tensor '{name}' spans bytes [{begin}, {end}) ({end - begin} bytes) but shape {ShapeUtil.Format(shape)} of {dtype} needs {needed} bytes");
        return new SafeTensorsEntry(name, dtype, shape, begin, end, loadedAs);
    }

    private static JsonElement Field(JsonElement entry, string field, string name, string file)
        => entry.TryGetProperty(field, out var v) ? v
        : throw Fail(file, name, $"tensor '{name}' has no \"{field}\" field");

    private static string Kind(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => e.ValueKind.ToString(),
    };

    private static string Raw(JsonElement e)
    {
        var text = e.GetRawText();
        return text.Length <= 40 ? text : text[..40] + "...";
    }

    internal static SafeTensorsFormatException Fail(string file, string? tensor, string problem, Exception? inner = null)
        => new(file, tensor, problem, inner);
}
