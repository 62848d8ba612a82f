using Sparkle.Tensors;

namespace Sparkle.Data;

/// <summary>One batch: images (B, 3, S, S) float32, labels (B) int64 (null for an unlabeled set), and where it sits.</summary>
public sealed class Batch
{
    internal Batch(Tensor images, Tensor? labels, int epoch, int iteration, int[] indices)
    {
        Images = images;
        Labels = labels;
        Epoch = epoch;
        Iteration = iteration;
        Indices = indices;
    }

    public Tensor Images { get; }
    public Tensor? Labels { get; }
    public int Epoch { get; }

    /// <summary>Iteration within the epoch (0-based).</summary>
    public int Iteration { get; }

    /// <summary>Dataset indices of the samples actually used (after substituting unreadable items).</summary>
    public int[] Indices { get; }

    public int Count => Indices.Length;
}
