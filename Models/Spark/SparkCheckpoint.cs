using System.Text.Json;
using Sparkle.Nn;
using Sparkle.Nn.Optim;
using Sparkle.Nn.Serialization;
using Sparkle.Tensors;

namespace Sparkle.Models.Spark;

/// <summary>
/// SparK's two checkpoints (SPARK.md §5.7) as safetensors. The with-decoder file holds the whole SparK state dict under
/// its official keys, the optimizer state under "optimizer." and, in the metadata, the config, epoch, step and whatever
/// the trainer adds (RNG state) — everything an exact resume needs; is_pretrain = "true". The timm-style file holds the
/// backbone alone with keys identical to a dense timm ResNet / official ConvNeXt. Both are written atomically.
/// </summary>
public static class SparkCheckpoint
{
    private const string OptimizerPrefix = "optimizer.";
    private const string OptimizerMetaPrefix = "optimizer:";

    /// <summary>The config entry of the official checkpoint, compared on load.</summary>
    public static string Config(SparkModel m) => JsonSerializer.Serialize(new Dictionary<string, object>
    {
        ["mask_ratio"] = m.MaskRatio,
        ["densify_norm_str"] = m.DensifyNorm switch { DensifyNorm.BatchNorm => "bn", DensifyNorm.LayerNorm => "ln", _ => "" },
        ["sbn"] = false,
        ["hierarchy"] = 4,
        ["sparse_encoder.input_size"] = m.InputSize,
        ["dense_decoder.width"] = m.DecoderWidth,
    });

    public static void SaveWithDecoder(string path, SparkModel model, Optimizer? optimizer, IReadOnlyDictionary<string, string> metadata)
    {
        var tensors = new OrderedTensorDict();
        foreach (var (k, v) in model.StateDict()) tensors.Add(k, v);
        var meta = new Dictionary<string, string>(metadata) { ["is_pretrain"] = "true", ["format"] = "pt", ["config"] = Config(model) };
        if (optimizer is not null)
        {
            var state = optimizer.StateDict();
            foreach (var (k, v) in state.Tensors) tensors.Add(OptimizerPrefix + k, v);
            foreach (var (k, v) in state.Scalars) meta[OptimizerMetaPrefix + k] = v;
        }
        SafeTensors.Save(path, tensors, meta);
    }

    /// <summary>Loads a with-decoder checkpoint into the model (strict) and the optimizer (when given); returns the metadata
    /// (epoch, step, config, ...) for the trainer.</summary>
    public static IReadOnlyDictionary<string, string> LoadWithDecoder(string path, SparkModel model, Optimizer? optimizer)
    {
        var file = SafeTensors.Load(path);
        if (file.Metadata.TryGetValue("config", out var saved) && saved != Config(model))
            throw new InvalidDataException($"{path}: the checkpoint's config {saved} does not match this model's {Config(model)}.");
        var moduleState = new OrderedTensorDict();
        var optimizerTensors = new OrderedTensorDict();
        foreach (var (k, v) in file.Tensors)
        {
            if (k.StartsWith(OptimizerPrefix, StringComparison.Ordinal)) optimizerTensors.Add(k[OptimizerPrefix.Length..], v);
            else moduleState.Add(k, v);
        }
        model.LoadStateDict(moduleState);
        if (optimizer is not null)
        {
            var scalars = file.Metadata.Where(kv => kv.Key.StartsWith(OptimizerMetaPrefix, StringComparison.Ordinal))
                .ToDictionary(kv => kv.Key[OptimizerMetaPrefix.Length..], kv => kv.Value);
            if (scalars.Count == 0) throw new InvalidDataException($"{path}: the checkpoint holds no optimizer state.");
            optimizer.LoadStateDict(new OptimizerStateDict(optimizerTensors, scalars));
        }
        return file.Metadata;
    }

    /// <summary>The timm-style encoder checkpoint: the backbone's own state dict, no fc/head keys.</summary>
    public static void SaveEncoder(string path, SparkModel model, IReadOnlyDictionary<string, string>? metadata = null)
        => SafeTensors.Save(path, model.Encoder.StateDict(), metadata);
}
