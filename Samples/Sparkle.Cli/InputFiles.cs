using System.Text.Json;
using Sparkle.Nn.Serialization;

namespace Sparkle.Cli;

/// <summary>
/// The up-front checks of the files a command reads (--resume, --init-weight, the checkpoint of export/reconstruct):
/// each is checked before any work (the header and the file's length against it: a truncated, empty or garbage file is
/// found here, in milliseconds), and a file that reads but does not fit the model fails with one line naming the option.
/// </summary>
internal static class InputFiles
{
    public const string WithDecoderPrefix = "sparse_encoder.";

    /// <summary>The validated header of a safetensors file named by <paramref name="what"/> (e.g. "--resume"); exit 1
    /// with the reader's reason when it is missing or malformed.</summary>
    public static SafeTensorsHeader Header(string path, string what)
    {
        if (Directory.Exists(path)) throw CliError.Input($"{what} {path}: a folder; give the .safetensors file.");
        if (!File.Exists(path)) throw CliError.Input($"{what} {path}: no such file.");
        try { return SafeTensors.ReadHeader(path); }
        catch (SafeTensorsFormatException e)
        {
            string problem = e.Message.StartsWith(path + ": ", StringComparison.Ordinal) ? e.Message[(path.Length + 2)..] : e.Message;
            // A foreign-weights file that is not safetensors is most likely a torch pickle: say how to convert it.
            string hint = what == "--init-weight" ? $" {InitWeight.ConvertHint}." : "";
            throw CliError.Input($"{what} {path}: not a readable safetensors file: {problem}{hint}", e);
        }
    }

    /// <summary>True when the header holds SparK's with-decoder keys (pretrain's checkpoint, not a timm-style encoder).</summary>
    public static bool IsWithDecoder(SafeTensorsHeader header) =>
        header.Entries.Any(e => e.Name.StartsWith(WithDecoderPrefix, StringComparison.Ordinal));

    /// <summary>Checks that <paramref name="path"/> is a with-decoder checkpoint written by `sparkle pretrain` (export,
    /// reconstruct, --resume) and returns its header.</summary>
    public static SafeTensorsHeader WithDecoder(string path, string what, string command)
    {
        var header = Header(path, what);
        if (!IsWithDecoder(header))
            throw CliError.Input($"{what} {path}: an encoder-only (timm-style) file; {command} needs the with-decoder checkpoint " +
                                 "(<model>_withdecoder_1kpretrained_spark_style.safetensors in the pretrain run folder).");
        return header;
    }

    /// <summary>Runs a load of <paramref name="path"/> into a model; a file that does not fit (keys, shapes, config,
    /// optimizer state, metadata) becomes one line naming the option, exit 1.</summary>
    public static T Load<T>(string path, string what, Func<T> load)
    {
        try { return load(); }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException or InvalidDataException or KeyNotFoundException
                                      or FormatException or OverflowException or JsonException)
        {
            string reason = ErrorReport.OneLine(e.Message);
            throw CliError.Input(reason.StartsWith(what + " ", StringComparison.Ordinal) ? reason : $"{what} {path} does not fit this run: {reason}", e);
        }
    }

    public static void Load(string path, string what, Action load) => Load(path, what, () => { load(); return 0; });
}
