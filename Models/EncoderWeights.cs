using System.Globalization;
using System.Text.RegularExpressions;
using Sparkle.Nn;
using Sparkle.Tensors;

namespace Sparkle.Models;

/// <summary>
/// An encoder state dict from a file (ours, timm's, torchvision's, the official ConvNeXt's), made ready for one of our
/// backbones — the one place that maps foreign keys. Our backbones' keys are timm's ResNet keys (identical to
/// torchvision's) and the official ConvNeXt's: the layout pretrain and export write, which torchvision loads strictly.
/// So a file in that layout needs no renaming; this takes off only what wraps or extends an encoder: a DDP "module."
/// prefix, a with-decoder checkpoint's "sparse_encoder.sp_cnn." part, the classifier head (ResNet fc.*, ConvNeXt norm.* and
/// head.*); and it renames timm's ConvNeXt keys to the official ones (the inverse of timm's convnext checkpoint_filter_fn).
/// </summary>
public sealed partial class EncoderWeights
{
    private const string DdpPrefix = "module.";
    private const string WithDecoderPrefix = "sparse_encoder.sp_cnn.";
    private const string BnCounter = ".num_batches_tracked";

    private EncoderWeights(IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyList<string> notes)
    {
        Tensors = tensors;
        Notes = notes;
        (Architecture, Description, SmallStem) = Identify(tensors);
    }

    /// <summary>The encoder's tensors under our keys.</summary>
    public IReadOnlyDictionary<string, Tensor> Tensors { get; }

    /// <summary>What was taken off or renamed, one line each, for the user (empty for our own encoder files).</summary>
    public IReadOnlyList<string> Notes { get; }

    /// <summary>The backbone name (resnet50, convnext_tiny, ...) when the keys and shapes are one of ours; else null.</summary>
    public string? Architecture { get; }

    /// <summary>What the keys say the encoder is, e.g. "resnet50 (Bottleneck blocks 3-4-6-3, width 64, 7x7 stem)".</summary>
    public string Description { get; }

    /// <summary>ResNets: whether conv1 is the small 3x3 stem (true) or the standard 7x7 one (false); null for other encoders.</summary>
    public bool? SmallStem { get; }

    /// <summary>The encoder part of a state dict as saved (safetensors of a model's state_dict, with or without a head).</summary>
    public static EncoderWeights From(IReadOnlyDictionary<string, Tensor> saved)
    {
        ArgumentNullException.ThrowIfNull(saved);
        var notes = new List<string>();
        int ddp = saved.Keys.Count(k => k.StartsWith(DdpPrefix, StringComparison.Ordinal));
        if (ddp > 0) notes.Add($"removed the DDP prefix '{DdpPrefix}' from {ddp} keys");
        bool withDecoder = IsWithDecoder(saved.Keys);
        var state = new Dictionary<string, Tensor>();
        foreach (var (k, v) in saved)
            if (EncoderKey(k, withDecoder) is { } key) state[key] = v;
        var head = state.Keys.Where(IsHead).ToList();
        if (head.Count > 0)
        {
            notes.Add($"ignored the classifier head ({head.Count} tensors, not part of an encoder): " +
                      string.Join(", ", head.Select(k => $"{k} {ShapeUtil.Format(state[k].Shape)}")));
            foreach (var k in head) state.Remove(k);
        }
        if (state.ContainsKey("stem.0.weight"))
        {
            state = state.ToDictionary(kv => FromTimmConvNeXt(kv.Key), kv => kv.Value);
            notes.Add("renamed timm's ConvNeXt keys (stem, stages.i.blocks.j, conv_dw, mlp.fc1/2) to the official ones");
        }
        return new EncoderWeights(state, notes);
    }

    /// <summary>ResNets: whether the saved conv1 (of an encoder file, a with-decoder checkpoint, with or without "module.")
    /// is the small 3x3 stem, from the file's header alone; null when the file holds no ResNet conv1.</summary>
    public static bool? SmallStemOf(IEnumerable<(string Key, int[] Shape)> saved)
    {
        var entries = saved.ToList();
        bool withDecoder = IsWithDecoder(entries.Select(e => e.Key));
        foreach (var (k, shape) in entries)
            if (EncoderKey(k, withDecoder) == "conv1.weight" && shape.Length == 4) return shape[2] == 3;
        return null;
    }

    private static bool IsWithDecoder(IEnumerable<string> keys) => keys.Any(k => Unwrapped(k).StartsWith(WithDecoderPrefix, StringComparison.Ordinal));

    private static string Unwrapped(string key) => key.StartsWith(DdpPrefix, StringComparison.Ordinal) ? key[DdpPrefix.Length..] : key;

    /// <summary>The backbone key of a saved key; null for a with-decoder checkpoint's decoder, mask token, optimizer.</summary>
    private static string? EncoderKey(string saved, bool withDecoder)
    {
        string key = Unwrapped(saved);
        if (!withDecoder) return key;
        return key.StartsWith(WithDecoderPrefix, StringComparison.Ordinal) ? key[WithDecoderPrefix.Length..] : null;
    }

    /// <summary>Copies the weights into <paramref name="backbone"/> (strict). A BN counter the file lacks keeps the model's
    /// value, as torch does for a state dict without version metadata. Throws <see cref="InvalidDataException"/> naming
    /// each key that does not fit, the expected and saved shapes, and the likely cause.</summary>
    public void LoadInto(Module backbone)
    {
        ArgumentNullException.ThrowIfNull(backbone);
        var own = backbone.StateDict();
        var state = Tensors.ToDictionary(kv => kv.Key, kv => kv.Value);
        foreach (var k in own.Keys.Where(k => k.EndsWith(BnCounter, StringComparison.Ordinal) && !state.ContainsKey(k)).ToList())
            state[k] = own[k].Clone();
        var missing = own.Keys.Where(k => !state.ContainsKey(k)).ToList();
        var unexpected = state.Keys.Where(k => !own.ContainsKey(k)).ToList();
        var misShaped = own.Keys.Where(k => state.TryGetValue(k, out var v) && !Module.ShapeFits(own[k].Shape, v.Shape)).ToList();
        if (missing.Count + unexpected.Count + misShaped.Count == 0)
        {
            backbone.LoadStateDict(state, strict: true);
            return;
        }
        var model = From(own);
        var lines = new List<string> { $"it holds {Description}, the model is {model.Description}" };
        if (Architecture != model.Architecture || SmallStem != model.SmallStem)
            lines.Add(Cause(model));
        foreach (var k in misShaped.Take(5))
            lines.Add($"{k}: expected {ShapeUtil.Format(own[k].Shape)}, saved {ShapeUtil.Format(state[k].Shape)}" +
                      (k == "conv1.weight" ? " (conv1 is the stem: 3x3 small, 7x7 standard)" : ""));
        if (misShaped.Count > 5) lines.Add($"... and {misShaped.Count - 5} more of a different shape");
        if (missing.Count > 0) lines.Add($"missing ({missing.Count}): {List(missing)}");
        if (unexpected.Count > 0) lines.Add($"not in the model ({unexpected.Count}): {List(unexpected)}");
        throw new InvalidDataException(string.Join("; ", lines) + ".");
    }

    private string Cause(EncoderWeights model) =>
        Architecture != model.Architecture
            ? $"likely cause: the file is {Architecture ?? "another architecture"}, the model {model.Architecture ?? "another one"}"
            : $"likely cause: the stem: the file has the {StemName(SmallStem)} stem, the model the {StemName(model.SmallStem)} one";

    /// <summary>"small 3x3 stride-1" or "standard 7x7 stride-2".</summary>
    public static string StemName(bool? small) => small == true ? "small 3x3 stride-1" : "standard 7x7 stride-2";

    private static string List(List<string> keys) =>
        string.Join(", ", keys.Take(6)) + (keys.Count > 6 ? $", ... ({keys.Count - 6} more)" : "");

    /// <summary>A classifier head: ResNet fc.*, ConvNeXt head.* (official head, timm head.fc / head.norm) and the
    /// official ConvNeXt's norm.* (the LayerNorm before the head; our encoders end at the last stage).</summary>
    private static bool IsHead(string key) =>
        key.StartsWith("fc.", StringComparison.Ordinal) || key.StartsWith("head.", StringComparison.Ordinal) || key.StartsWith("norm.", StringComparison.Ordinal);

    /// <summary>timm ConvNeXt key -> official key (timm's checkpoint_filter_fn, backwards; the head is gone by then).</summary>
    private static string FromTimmConvNeXt(string key)
    {
        if (key.StartsWith("stem.", StringComparison.Ordinal)) return "downsample_layers.0." + key["stem.".Length..];
        key = TimmDownsample().Replace(key, "downsample_layers.$1.$2.");
        key = TimmBlock().Replace(key, "stages.$1.$2.");
        return key.Replace(".conv_dw.", ".dwconv.", StringComparison.Ordinal).Replace(".mlp.fc", ".pwconv", StringComparison.Ordinal);
    }

    [GeneratedRegex(@"^stages\.(\d+)\.downsample\.(\d+)\.")]
    private static partial Regex TimmDownsample();

    [GeneratedRegex(@"^stages\.(\d+)\.blocks\.(\d+)\.")]
    private static partial Regex TimmBlock();

    [GeneratedRegex(@"^(?:layer|stages\.)(\d+)\.(\d+)\.")]
    private static partial Regex StageBlock();

    /// <summary>(name, description, small stem) from the keys: blocks per stage, block type / widths, stem.</summary>
    private static (string?, string, bool?) Identify(IReadOnlyDictionary<string, Tensor> state)
    {
        int[] depths = new int[4];
        foreach (var k in state.Keys)
        {
            var m = StageBlock().Match(k);
            if (!m.Success) continue;
            int stage = int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) - (k[0] == 'l' ? 1 : 0);
            if (stage is >= 0 and < 4) depths[stage] = Math.Max(depths[stage], int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture) + 1);
        }
        string blocks = string.Join("-", depths);
        if (state.TryGetValue("conv1.weight", out var conv1) && conv1.Rank == 4)
        {
            bool bottleneck = state.Keys.Any(k => k.EndsWith(".conv3.weight", StringComparison.Ordinal));
            bool small = conv1.Size(2) == 3;
            int width = conv1.Size(0);
            string? name = width == 64 ? ResNet.VariantName(depths, bottleneck) : null;
            return (name, $"{name ?? "a ResNet"} ({(bottleneck ? "Bottleneck" : "BasicBlock")} blocks {blocks}, width {width}, {conv1.Size(2)}x{conv1.Size(3)} stem)", small);
        }
        if (state.ContainsKey("downsample_layers.0.0.weight"))
        {
            var dims = Enumerable.Range(0, 4).Select(i => state.TryGetValue($"stages.{i}.0.gamma", out var g) ? g.Size(0) : 0).ToArray();
            string? name = ConvNeXt.VariantName(depths, dims);
            return (name, $"{name ?? "a ConvNeXt"} (blocks {blocks}, widths {string.Join("-", dims)})", null);
        }
        return (null, $"no ResNet or ConvNeXt encoder (no conv1.weight or downsample_layers.0.0.weight; keys: {List(state.Keys.ToList())})", null);
    }
}
