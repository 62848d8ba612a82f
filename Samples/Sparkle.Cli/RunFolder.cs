using System.Text.RegularExpressions;

namespace Sparkle.Cli;

/// <summary>
/// The --output folder of a training command. A previous run is never lost by accident: a non-empty folder is refused
/// (exit 2) unless the run continues it (--resume) or replaces it (--overwrite, which first removes the files of
/// sparkle's own names and leaves any other file alone). Chosen over timm's fresh dated folder per run because the
/// paths of the outputs stay known (the README's finetune/export commands name runs/pretrain/...). Temp files of
/// atomic writes cut short (a second Ctrl+C, a kill) are removed when a run starts there and by the second Ctrl+C.
/// </summary>
internal static partial class RunFolder
{
    /// <summary>The folder of the run in progress in this process (the Ctrl+C handler cleans its temp files).</summary>
    public static volatile string? Active;

    /// <summary>Makes <paramref name="dir"/> ready for a run of <paramref name="command"/>; <paramref name="say"/> gets
    /// a line per removed file group.</summary>
    public static void Prepare(string dir, string command, bool resume, bool overwrite, Action<string> say)
    {
        if (File.Exists(dir)) throw new UsageException($"{command}: --output {dir} is a file; give a folder.");
        if (Directory.Exists(dir))
        {
            int stale = RemoveTempFiles(dir);
            if (stale > 0) say($"removed {stale} temp file(s) of a write cut short from {dir}");
            var entries = Directory.EnumerateFileSystemEntries(dir).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
            if (entries.Count > 0 && !resume)
            {
                string? checkpoint = entries.FirstOrDefault(n => n!.EndsWith("_withdecoder_1kpretrained_spark_style.safetensors", StringComparison.Ordinal));
                if (!overwrite)
                    throw new UsageException($"{command}: --output {dir} already holds a run ({Listing(entries!)}); " +
                                             (command == "pretrain" ? $"continue it with --resume {(checkpoint is null ? "CHECKPOINT" : Path.Combine(dir, checkpoint))}, " : "") +
                                             "replace it with --overwrite, or choose another --output.");
                var ours = entries.Where(n => IsOurs(n!)).ToList();
                foreach (var name in ours) File.Delete(Path.Combine(dir, name!));
                say($"--overwrite: removed the previous run's {ours.Count} file(s) from {dir}" +
                    (ours.Count < entries.Count ? $"; {entries.Count - ours.Count} other file(s) left as they were" : ""));
            }
        }
        Directory.CreateDirectory(dir);
        Active = dir;
    }

    /// <summary>Removes the temp files of atomic writes (safetensors ".NAME.GUID.tmp", pictures/charts/tables "NAME.tmp");
    /// returns how many.</summary>
    public static int RemoveTempFiles(string dir)
    {
        int n = 0;
        try
        {
            foreach (var path in Directory.EnumerateFiles(dir, "*.tmp"))
            {
                if (!IsTemp(Path.GetFileName(path))) continue;
                try { File.Delete(path); n++; } catch (IOException) { } catch (UnauthorizedAccessException) { }
            }
        }
        catch (DirectoryNotFoundException) { }
        return n;
    }

    private static bool IsTemp(string name) => SafeTensorsTemp().IsMatch(name) || OtherTemp().IsMatch(name);

    /// <summary>The names sparkle writes into a run folder (pretrain, finetune, linear-probe, reconstruct's default).</summary>
    private static bool IsOurs(string name) => IsTemp(name) || OurFile().IsMatch(name);

    private static string Listing(IReadOnlyList<string> names) =>
        string.Join(", ", names.Take(3)) + (names.Count > 3 ? $", ... {names.Count} entries" : "");

    [GeneratedRegex(@"^\..+\.safetensors\.[0-9a-f]{32}\.tmp$")]
    private static partial Regex SafeTensorsTemp();

    [GeneratedRegex(@"^.+\.(png|svg|csv|jsonl)\.tmp$")]
    private static partial Regex OtherTemp();

    [GeneratedRegex(@"^(log\.jsonl|summary\.csv|loss\.svg|reconstruction-ep\d+\.png|reconstruct\.png|classifier\.safetensors|" +
                    @".+_withdecoder_1kpretrained_spark_style\.safetensors|.+_1kpretrained_timm_style\.safetensors)$")]
    private static partial Regex OurFile();
}
