using System.Buffers.Binary;
using System.Text.Json;
using Xunit;

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

    /// <summary>__metadata__ of a golden file: case name to its JSON hyper-parameters (keys starting with _ describe the file).</summary>
    public static Dictionary<string, string> Metadata(string file)
    {
        var bytes = File.ReadAllBytes(Path.Combine(Dir, file));
        long n = BinaryPrimitives.ReadInt64LittleEndian(bytes);
        using var doc = JsonDocument.Parse(bytes.AsMemory(8, (int)n));
        return doc.RootElement.GetProperty("__metadata__").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!);
    }

    /// <summary>The case names of a file whose "op" is one of <paramref name="ops"/>, in generation order.</summary>
    public static string[] CaseNames(string file, params string[] ops) =>
        [.. Metadata(file).Where(kv => !kv.Key.StartsWith('_') && ops.Contains(Op(kv.Value))).Select(kv => kv.Key)];

    private static string Op(string metaJson)
    {
        using var m = JsonDocument.Parse(metaJson);
        return m.RootElement.GetProperty("op").GetString()!;
    }

    /// <summary>One case of a golden file, read through an indexer that records which tensors were read, so a test can
    /// assert at its end that it compared every tensor the case ships (<see cref="AssertAllRead"/>).</summary>
    public static Case Open(string file, string name) => new(file, name, Load(file), Metadata(file)[name]);

    public sealed class Case
    {
        private readonly Dictionary<string, Entry> _tensors;
        private readonly HashSet<string> _read = [];

        internal Case(string file, string name, Dictionary<string, Entry> all, string metaJson)
        {
            File = file;
            Name = name;
            _tensors = all.Where(kv => kv.Key.StartsWith(name + "/", StringComparison.Ordinal))
                .ToDictionary(kv => kv.Key[(name.Length + 1)..], kv => kv.Value);
            using var m = JsonDocument.Parse(metaJson);
            Meta = m.RootElement.Clone();
        }

        public string File { get; }
        public string Name { get; }

        /// <summary>The case's hyper-parameters (its __metadata__ entry).</summary>
        public JsonElement Meta { get; }

        public string Op => Meta.GetProperty("op").GetString()!;
        public IEnumerable<string> TensorNames => _tensors.Keys;

        public Entry this[string tensor]
        {
            get
            {
                Assert.True(_tensors.ContainsKey(tensor), $"{File} {Name} has no tensor {tensor}");
                _read.Add(tensor);
                return _tensors[tensor];
            }
        }

        public bool Has(string tensor) => _tensors.ContainsKey(tensor);

        public bool TryGet(string tensor, out Entry entry)
        {
            if (!_tensors.TryGetValue(tensor, out entry!)) return false;
            _read.Add(tensor);
            return true;
        }

        public int[] Ints(string key) => [.. Meta.GetProperty(key).EnumerateArray().Select(e => e.GetInt32())];

        /// <summary>An int hyper-parameter given either as n or as [n, n] (PyTorch accepts both).</summary>
        public int Int(string key)
        {
            var e = Meta.GetProperty(key);
            if (e.ValueKind == JsonValueKind.Number) return e.GetInt32();
            var v = e.EnumerateArray().Select(x => x.GetInt32()).Distinct().ToArray();
            Assert.True(v.Length == 1, $"{Name}: {key} is not square");
            return v[0];
        }

        public double Double(string key) => Meta.GetProperty(key).GetDouble();
        public bool Bool(string key) => Meta.GetProperty(key).GetBoolean();

        /// <summary>Fails naming every tensor of the case that the test never read: a shipped golden value no test compares.</summary>
        public void AssertAllRead()
        {
            var unread = _tensors.Keys.Where(k => !_read.Contains(k)).OrderBy(k => k, StringComparer.Ordinal).ToArray();
            Assert.True(unread.Length == 0, $"{File} {Name}: the test never read {string.Join(", ", unread)}");
        }
    }
}
