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
