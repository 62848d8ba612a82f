using System.Diagnostics.CodeAnalysis;

namespace Sparkle.Data;

/// <summary>An indexed set of images with optional class labels. Implementations are thread-safe.</summary>
public interface IImageDataset
{
    int Count { get; }

    /// <summary>Class names in label order; empty for an unlabeled set.</summary>
    IReadOnlyList<string> Classes { get; }

    /// <summary>Label of item <paramref name="index"/>, or −1 when the set is unlabeled.</summary>
    int Label(int index);

    /// <summary>Loads item <paramref name="index"/>. Returns false (after reporting the problem once, see
    /// <see cref="ImageFolder"/>) when it cannot be read or decoded; the loader then skips it.</summary>
    bool TryLoad(int index, [NotNullWhen(true)] out DecodedImage? image);

    /// <summary>Where item <paramref name="index"/> comes from (a path, or "name[index]").</summary>
    string Describe(int index);
}
