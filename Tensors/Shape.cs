namespace Sparkle.Tensors;

/// <summary>Shape and stride arithmetic shared by views, broadcasting and kernels.</summary>
public static class ShapeUtil
{
    public static string Format(ReadOnlySpan<int> shape) => "(" + string.Join(", ", shape.ToArray()) + ")";

    public static int NumElements(ReadOnlySpan<int> shape)
    {
        long n = 1;
        foreach (int d in shape)
        {
            if (d < 0) throw new ArgumentException($"Negative dimension in shape {Format(shape)}.");
            n *= d;
            if (n > int.MaxValue) throw new ArgumentException($"Shape {Format(shape)} has more than 2^31-1 elements.");
        }
        return (int)n;
    }

    /// <summary>Row-major (C-contiguous) strides.</summary>
    public static int[] ContiguousStrides(ReadOnlySpan<int> shape)
    {
        var s = new int[shape.Length];
        int acc = 1;
        for (int i = shape.Length - 1; i >= 0; i--) { s[i] = acc; acc *= Math.Max(shape[i], 1); }
        return s;
    }

    /// <summary>Wraps a possibly negative dim into [0, rank).</summary>
    public static int NormalizeDim(int dim, int rank, string what = "dim")
    {
        int r = Math.Max(rank, 1);
        if (dim < -r || dim >= r) throw new ArgumentOutOfRangeException(what, $"{what} {dim} is out of range for a tensor of rank {rank} (expected [{-r}, {r - 1}]).");
        return dim < 0 ? dim + r : dim;
    }

    /// <summary>NumPy broadcasting of two shapes; throws naming both.</summary>
    public static int[] Broadcast(ReadOnlySpan<int> a, ReadOnlySpan<int> b)
    {
        int n = Math.Max(a.Length, b.Length);
        var r = new int[n];
        for (int i = 0; i < n; i++)
        {
            int da = i < n - a.Length ? 1 : a[i - (n - a.Length)];
            int db = i < n - b.Length ? 1 : b[i - (n - b.Length)];
            if (da != db && da != 1 && db != 1)
                throw new ArgumentException($"Shapes {Format(a)} and {Format(b)} cannot be broadcast together (dimension {i}: {da} vs {db}).");
            r[i] = da == 1 ? db : da;
        }
        return r;
    }

    /// <summary>The multi-index of the <paramref name="flat"/>-th element in row-major order.</summary>
    public static int[] Unravel(int flat, ReadOnlySpan<int> shape)
    {
        var index = new int[shape.Length];
        for (int d = shape.Length - 1; d >= 0; d--)
        {
            if (shape[d] == 0) break;
            index[d] = flat % shape[d];
            flat /= shape[d];
        }
        return index;
    }

    public static bool SameShape(ReadOnlySpan<int> a, ReadOnlySpan<int> b) => a.SequenceEqual(b);

    /// <summary>
    /// Strides for viewing a tensor (shape, strides) as newShape without a copy, or null when impossible
    /// (PyTorch's computeStride: chunks of dims that are mutually contiguous can be re-split).
    /// </summary>
    public static int[]? ViewStrides(ReadOnlySpan<int> shape, ReadOnlySpan<int> strides, ReadOnlySpan<int> newShape)
    {
        var newStrides = new int[newShape.Length];
        if (shape.Length == 0 || NumElements(shape) == 0)
            return ContiguousStrides(newShape);
        int viewD = newShape.Length - 1;
        long chunkBaseStride = strides.Length > 0 ? strides[^1] : 1;
        long tensorNumel = 1, viewNumel = 1;
        for (int tensorD = shape.Length - 1; tensorD >= 0; tensorD--)
        {
            tensorNumel *= shape[tensorD];
            if (tensorD == 0 || (shape[tensorD - 1] != 1 && strides[tensorD - 1] != tensorNumel * chunkBaseStride))
            {
                while (viewD >= 0 && (viewNumel < tensorNumel || newShape[viewD] == 1))
                {
                    newStrides[viewD] = (int)(viewNumel * chunkBaseStride);
                    viewNumel *= newShape[viewD];
                    viewD--;
                }
                if (viewNumel != tensorNumel) return null;
                if (tensorD > 0)
                {
                    chunkBaseStride = strides[tensorD - 1];
                    tensorNumel = 1;
                    viewNumel = 1;
                }
            }
        }
        return viewD == -1 ? newStrides : null;
    }

    /// <summary>Resolves a single -1 in a requested shape.</summary>
    public static int[] InferShape(ReadOnlySpan<int> requested, int numel)
    {
        var s = requested.ToArray();
        int infer = -1;
        long known = 1;
        for (int i = 0; i < s.Length; i++)
        {
            if (s[i] == -1)
            {
                if (infer >= 0) throw new ArgumentException($"Only one dimension can be -1 in shape {Format(requested)}.");
                infer = i;
            }
            else if (s[i] < 0) throw new ArgumentException($"Invalid dimension {s[i]} in shape {Format(requested)}.");
            else known *= s[i];
        }
        if (infer >= 0)
        {
            if (known == 0 || numel % known != 0)
                throw new ArgumentException($"Shape {Format(requested)} is invalid for a tensor of {numel} elements.");
            s[infer] = (int)(numel / known);
        }
        else if (known != numel)
            throw new ArgumentException($"Shape {Format(requested)} is invalid for a tensor of {numel} elements.");
        return s;
    }
}
