using System.Text.Json;
using System.Text.RegularExpressions;
using Sparkle.Models.Training;

namespace Sparkle.Cli;

/// <summary>The exit codes of every command (docs/cli.md, "Exit codes").</summary>
public static class ExitCodes
{
    public const int Ok = 0;
    /// <summary>Bad input (a missing, truncated or unfitting file, no images, a missing device) or any other error.</summary>
    public const int Error = 1;
    /// <summary>Bad command line: an unknown option, a value out of range, an option the command does not take, a
    /// non-empty --output without --resume/--overwrite.</summary>
    public const int Usage = 2;
    public const int NonFiniteLoss = 3;
    /// <summary>Stopped by Ctrl+C (SIGINT) after writing what the command writes when stopped; 128 + SIGINT, as a shell reports it.</summary>
    public const int Interrupted = 130;
}

/// <summary>A failure the user can fix, with its exit code: printed as "sparkle &lt;command&gt;: message", one line, no stack trace.</summary>
public sealed class CliError(int exitCode, string message, Exception? inner = null) : Exception(message, inner)
{
    public int ExitCode { get; } = exitCode;

    /// <summary>A bad input file or value (exit 1).</summary>
    public static CliError Input(string message, Exception? inner = null) => new(ExitCodes.Error, message, inner);
}

/// <summary>Turns any exception that reaches the top of a command into its exit code and one line (no stack trace unless
/// --debug or SPARKLE_DEBUG=1 asked for it).</summary>
internal static partial class ErrorReport
{
    public const string DebugFlag = "--debug";
    public const string DebugVariable = "SPARKLE_DEBUG";

    public static bool DebugFromEnvironment => Environment.GetEnvironmentVariable(DebugVariable) is "1" or "true" or "yes";

    /// <summary>(exit code, one-line message) for an exception of <paramref name="command"/>.</summary>
    public static (int Code, string Message) Describe(Exception e, string command)
    {
        while (e is AggregateException { InnerExceptions.Count: 1 } a) e = a.InnerExceptions[0];
        return e switch
        {
            UsageException => (ExitCodes.Usage, $"sparkle {e.Message}"),
            CliError c => (c.ExitCode, $"sparkle {command}: {OneLine(c.Message)}"),
            DeviceUnavailableException => (ExitCodes.Error, $"sparkle {e.Message}"),
            NonFiniteLossException => (ExitCodes.NonFiniteLoss, $"sparkle {command}: {OneLine(e.Message)}"),
            ArgumentException => (ExitCodes.Usage, $"sparkle {command}: {OneLine(e.Message)}"),
            // Missing or unreadable files and the safetensors reader's format errors (SafeTensorsFormatException is an
            // IOException whose message names the file and what is wrong with it).
            IOException or InvalidDataException or UnauthorizedAccessException or JsonException
                => (ExitCodes.Error, $"sparkle {command}: {OneLine(e.Message)}"),
            _ => (ExitCodes.Error, $"sparkle {command}: {e.GetType().Name}: {OneLine(e.Message)} " +
                                   $"(an unexpected error; run with {DebugFlag} or {DebugVariable}=1 for the stack trace)"),
        };
    }

    /// <summary>A message on one line, key lists of a state-dict mismatch shortened to their first few entries.</summary>
    public static string OneLine(string message)
    {
        var lines = message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(ShortenList).ToList();
        var one = new System.Text.StringBuilder();
        foreach (var line in lines)
            one.Append(one.Length == 0 ? "" : one[^1] == ':' ? " " : "; ").Append(line);
        return one.ToString();
    }

    /// <summary>"missing keys (96): a, b, c, d, ..." becomes "missing keys (96): a, b, c, ... (93 more)".</summary>
    private static string ShortenList(string line)
    {
        var m = CountedList().Match(line);
        if (!m.Success) return line;
        char separator = m.Groups["items"].Value.Contains("; ", StringComparison.Ordinal) ? ';' : ',';
        var items = m.Groups["items"].Value.Split(separator, StringSplitOptions.TrimEntries);
        const int keep = 3;
        if (items.Length <= keep) return line;
        return $"{m.Groups["head"].Value}: {string.Join(separator + " ", items.Take(keep))}{separator} ... ({items.Length - keep} more)";
    }

    [GeneratedRegex(@"^(?<head>[^:]*\(\d+\)): (?<items>.*)$")]
    private static partial Regex CountedList();
}
