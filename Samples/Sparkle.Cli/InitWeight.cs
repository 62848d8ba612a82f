using Sparkle.Models;
using Sparkle.Nn;
using Sparkle.Nn.Serialization;

namespace Sparkle.Cli;

/// <summary>--init-weight of pretrain, finetune and linear-probe: a safetensors encoder state dict (ours, timm's, torchvision's;
/// <see cref="EncoderWeights"/> maps it), with the stem taken from the file and messages that name the flag to change.</summary>
internal static class InitWeight
{
    /// <summary>How to make a safetensors file of torch weights; said whenever a file is not one.</summary>
    public const string ConvertHint =
        "torchvision/timm .pth files are pickles, which sparkle does not read: save the state dict as safetensors with " +
        "python -c \"import torch, safetensors.torch as st; st.save_file(torch.load('IN.pth', map_location='cpu'), 'OUT.safetensors')\"";

    /// <summary>The options with the file's ResNet stem when --small-stem is automatic (parse time: the file's header alone,
    /// so every later check sees the stem the run will have). A contradicting explicit --small-stem is a usage error.</summary>
    public static T FitStem<T>(T o, string? path, string command) where T : ModelArgs
    {
        if (path is null || !o.Model.StartsWith("resnet", StringComparison.Ordinal) || !File.Exists(path)) return o;
        bool? fileSmall;
        try { fileSmall = EncoderWeights.SmallStemOf(SafeTensors.ReadHeader(path).Entries.Select(e => (e.Name, e.Shape.ToArray()))); }
        catch (IOException) { return o; }                        // not readable: the load says why
        if (fileSmall is not bool small || small == o.UseSmallStem) return o;
        string flag = $"--small-stem {(small ? "true" : "false")}";
        if (o.SmallStem is not null)
            throw new UsageException($"{command}: --init-weight {path} has the {EncoderWeights.StemName(small)} stem (conv1.weight), " +
                                     $"--small-stem {(o.SmallStem == true ? "true" : "false")} asks for the other one: pass {flag} or leave it out.");
        var fitted = (T)(o with { SmallStem = small });
        if (o.InputSize % fitted.DownsampleRatio != 0)
            throw new UsageException($"{command}: --init-weight {path} has the {EncoderWeights.StemName(small)} stem (total stride {fitted.DownsampleRatio}), " +
                                     $"so --input-size must be a multiple of {fitted.DownsampleRatio}, got {o.InputSize}.");
        return fitted;
    }

    /// <summary>The file's encoder weights into <paramref name="backbone"/>; <paramref name="say"/> gets what was ignored or renamed.</summary>
    public static void Load(string path, Module backbone, string model, Action<string> say) => Load(path, Read(path), backbone, model, say);

    /// <summary>The file's tensors (any safetensors file; the message of one that is not says how to convert).</summary>
    public static SafeTensorsFile Read(string path)
    {
        if (!File.Exists(path)) throw new UsageException($"--init-weight {path}: no such file.");
        try { return SafeTensors.Load(path); }
        catch (SafeTensorsFormatException e) { throw new InvalidDataException($"--init-weight {e.Message}. {ConvertHint}.", e); }
    }

    public static void Load(string path, SafeTensorsFile file, Module backbone, string model, Action<string> say)
    {
        var weights = EncoderWeights.From(file.Tensors);
        foreach (var note in weights.Notes) say($"--init-weight {path}: {note}");
        try { weights.LoadInto(backbone); }
        catch (InvalidDataException e)
        {
            var own = EncoderWeights.From(backbone.StateDict());
            string hint = weights.Architecture is { } arch && arch != own.Architecture ? $" Pass --model {arch}."
                : weights.SmallStem is bool small && small != own.SmallStem ? $" Pass --small-stem {(small ? "true" : "false")}." : "";
            throw new InvalidDataException($"--init-weight {path} does not fit this --model {model}: {e.Message}{hint}", e);
        }
    }
}
