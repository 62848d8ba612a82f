using Sparkle.Tensors;

namespace Sparkle.Models;

/// <summary>
/// What SparK needs from a backbone (SPARK.md §4.3): its total stride (= the mask patch size), the channels of the
/// feature maps it returns (shallow to deep), and a hierarchical forward returning those maps. Any CNN implementing it
/// (and built from Nn layers reached through Module.Child, so sparse conversion can swap them) can be pre-trained.
/// </summary>
public interface IHierarchicalEncoder
{
    /// <summary>Total stride of the deepest map; input sides must be multiples of it.</summary>
    int DownsampleRatio { get; }

    /// <summary>Channels of the maps <see cref="ForwardFeatures"/> returns, shallow to deep.</summary>
    IReadOnlyList<int> FeatureMapChannels { get; }

    /// <summary>The feature maps, shallow to deep; the last is (H, W) / DownsampleRatio and every side is a multiple of it.</summary>
    Tensor[] ForwardFeatures(Tensor input);

    /// <summary>Classification logits (fine-tuning); throws when built without a head.</summary>
    Tensor Forward(Tensor input);
}
