using System.Buffers.Binary;
using System.Text.Json;

namespace Sparkle.Tests.Support;

/// <summary>
/// Minimal reader for the PyTorch golden vectors in shared/golden (safetensors, F64/I64 only).
/// A test fixture, not the product reader (that one lives in Nn with full validation).
/// </summary>
public static class Golden
{
    public sealed record Entry(int[] Shape, double[] Values);

    /// <summary>Tests/Golden, a copy of shared/golden kept in the repo so a clean clone has it; copied to the output.</summary>
    public static string Dir => Path.Combine(AppContext.BaseDirectory, "Golden");

    public static Dictionary<string, Entry> Load(string file)
    {
        var bytes = File.ReadAllBytes(Path.Combine(Dir, file));
        long n = BinaryPrimitives.ReadInt64LittleEndian(bytes);
        using var doc = JsonDocument.Parse(bytes.AsMemory(8, (int)n));
        var result = new Dictionary<string, Entry>();
        int dataStart = 8 + (int)n;
        foreach (var p in doc.RootElement.EnumerateObject())
        {
            if (p.Name == "__metadata__") continue;
            var dtype = p.Value.GetProperty("dtype").GetString();
            var shape = p.Value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            var offs = p.Value.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            var span = bytes.AsSpan(dataStart + (int)offs[0], (int)(offs[1] - offs[0]));
            var vals = new double[span.Length / 8];
            for (int i = 0; i < vals.Length; i++)
                vals[i] = dtype == "F64" ? BinaryPrimitives.ReadDoubleLittleEndian(span[(i * 8)..])
                        : dtype == "I64" ? BinaryPrimitives.ReadInt64LittleEndian(span[(i * 8)..])
                        : throw new NotSupportedException(dtype);
            result[p.Name] = new Entry(shape, vals);
        }
        return result;
    }
}
