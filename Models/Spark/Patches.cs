using Sparkle.Tensors;

namespace Sparkle.Models.Spark;

/// <summary>
/// SparK's patch layout (SPARK.md §3.1): (B, C, H, W) -> (B, L, p*p*C) with L = (H/p)(W/p) patches in row-major
/// order and, inside a patch, index ((py*p)+px)*C + c (channel fastest). <see cref="Unpatchify"/> is the exact inverse.
/// </summary>
public static class Patches
{
    public static Tensor Patchify(Tensor image, int patch)
    {
        if (image.Rank != 4 || image.Size(2) % patch != 0 || image.Size(3) % patch != 0)
            throw new ArgumentException($"Patchify: expected (B, C, H, W) with H and W multiples of {patch}, got shape {ShapeUtil.Format(image.Shape)}.");
        int b = image.Size(0), c = image.Size(1), fh = image.Size(2) / patch, fw = image.Size(3) / patch;
        return image.Reshape(b, c, fh, patch, fw, patch).Permute(0, 2, 4, 3, 5, 1).Reshape(b, fh * fw, patch * patch * c);
    }

    public static Tensor Unpatchify(Tensor patches, int patch, int channels, int fh, int fw)
    {
        int b = patches.Size(0);
        if (patches.Rank != 3 || patches.Size(1) != fh * fw || patches.Size(2) != patch * patch * channels)
            throw new ArgumentException($"Unpatchify: expected (B, {fh * fw}, {patch * patch * channels}), got shape {ShapeUtil.Format(patches.Shape)}.");
        return patches.Reshape(b, fh, fw, patch, patch, channels).Permute(0, 5, 1, 3, 2, 4).Reshape(b, channels, fh * patch, fw * patch);
    }
}
