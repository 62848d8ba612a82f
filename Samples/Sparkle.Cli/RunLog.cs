using System.Globalization;
using System.Text;
using System.Text.Json;
using Sparkle.Data;

namespace Sparkle.Cli;

/// <summary>A JSON-lines log (one object per line, flushed per line), SparK's pretrain_log.txt in spirit (SPARK.md §5.8).</summary>
public sealed class RunLog : IDisposable
{
    private readonly StreamWriter _writer;

    public RunLog(string path, bool append)
    {
        Path = path;
        _writer = new StreamWriter(path, append, new UTF8Encoding(false)) { AutoFlush = true };
    }

    public string Path { get; }

    public void Write(IReadOnlyDictionary<string, object?> entry) =>
        _writer.WriteLine(JsonSerializer.Serialize(entry.ToDictionary(kv => kv.Key, kv => Safe(kv.Value))));

    private static object? Safe(object? v) => v is double d && !double.IsFinite(d) ? d.ToString(CultureInfo.InvariantCulture) : v;

    public void Dispose() => _writer.Dispose();

    /// <summary>Reads the objects of a log (for tests and tools).</summary>
    public static List<JsonElement> Read(string path) =>
        File.ReadAllLines(path).Where(l => l.Length > 0).Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToList();
}

/// <summary>
/// timm's summary.csv beside log.jsonl: one row per finished epoch (epoch, train_loss, lr, epoch_s, and the eval metrics
/// the command has), header first, numbers in the invariant culture, an empty cell for a missing value. A resumed run
/// appends to it.
/// </summary>
public sealed class SummaryCsv
{
    public const string FileName = "summary.csv";
    private readonly string _path;
    private readonly IReadOnlyList<string> _columns;

    public SummaryCsv(string dir, IReadOnlyList<string> columns, bool append)
    {
        _path = System.IO.Path.Combine(dir, FileName);
        _columns = columns;
        if (!append || !File.Exists(_path) || new FileInfo(_path).Length == 0)
            File.WriteAllText(_path, string.Join(",", columns) + "\n", new UTF8Encoding(false));
    }

    public void Write(params double?[] values)
    {
        if (values.Length != _columns.Count) throw new ArgumentException($"summary.csv: {values.Length} values for {_columns.Count} columns.");
        File.AppendAllText(_path, string.Join(",", values.Select(v => v is double d ? d.ToString("R", CultureInfo.InvariantCulture) : "")) + "\n",
            new UTF8Encoding(false));
    }

    /// <summary>The rows of a summary.csv (header first), for tests and tools.</summary>
    public static List<string[]> Read(string path) => File.ReadAllLines(path).Where(l => l.Length > 0).Select(l => l.Split(',')).ToList();
}

internal static class Fmt
{
    public static string Duration(double seconds)
    {
        if (!double.IsFinite(seconds) || seconds < 0) return "?";
        var t = TimeSpan.FromSeconds(Math.Round(seconds));
        return t.TotalHours >= 1 ? $"{(int)t.TotalHours}h{t.Minutes:D2}m" : t.TotalMinutes >= 1 ? $"{t.Minutes}m{t.Seconds:D2}s" : $"{t.Seconds}s";
    }

    public static string G(double v, string format = "G4") => v.ToString(format, CultureInfo.InvariantCulture);

    public static void WriteTextAtomically(string path, string text) => PngWriter.WriteAtomically(path, new UTF8Encoding(false).GetBytes(text));
}
