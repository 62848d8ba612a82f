using Sparkle.Tensors;

namespace Sparkle.Autograd.Rules;

/// <summary>Gradients of Cat and Pad (forward: Tensor.Join.cs). Stack, Split and Chunk are compositions of
/// recorded ops (Unsqueeze + Cat, Narrow) and need no rule.</summary>
internal static class JoinRules
{
    public static Tensor Cat(IReadOnlyList<Tensor> parts, int dim, Tensor y)
    {
        int d = ShapeUtil.NormalizeDim(dim, y.Rank);
        var shapes = parts.Select(p => p.ShapeArray()).ToArray();
        var dtypes = parts.Select(p => p.DType).ToArray();
        var needed = parts.Select(p => p.RequiresGrad).ToArray();
        return Differentiable.Record("Cat", y, [.. parts], g =>
        {
            var grads = new Tensor?[shapes.Length];
            int offset = 0;
            for (int k = 0; k < shapes.Length; k++)
            {
                // Cat skips 1-D empty parts whatever the others' rank (torch's legacy rule); they take no room.
                bool skipped = shapes[k].Length == 1 && shapes[k][0] == 0;
                int len = skipped ? 0 : shapes[k][d];
                if (needed[k])
                    grads[k] = skipped ? Tensor.Zeros([0], dtypes[k], g.Device) : g.Narrow(d, offset, len).To(dtypes[k]);
                offset += len;
            }
            return grads;
        });
    }

    /// <summary>Padding by p is undone by padding by -p (cropping what was added, zero-filling what was cropped).</summary>
    public static Tensor Pad(Tensor x, int[] pad, Tensor y)
    {
        var back = pad.Select(p => -p).ToArray();
        return Differentiable.Record("Pad", y, [x], g => [g.Pad(back)]);
    }
}
