using Sparkle.Tensors;

namespace Sparkle.Tests.Support;

/// <summary>How a generated tensor is laid out in memory; every op must give the same values for all.</summary>
public enum Layout { Contiguous, Permuted, SteppedSlice, Expanded }

/// <summary>
/// Random shapes and random non-contiguous tensors for property tests. Properties take an FsCheck-drawn
/// seed and build everything from a System.Random(seed), so a failing case is reproducible from its seed.
/// </summary>
public static class TensorGen
{
    public static readonly Layout[] AllLayouts = Enum.GetValues<Layout>();

    public static int[] RandomShape(Random rng, int minRank = 0, int maxRank = 4, int maxDim = 5)
    {
        int rank = rng.Next(minRank, maxRank + 1);
        var s = new int[rank];
        for (int i = 0; i < rank; i++) s[i] = rng.Next(1, maxDim + 1);
        return s;
    }

    /// <summary>A shape that broadcasts against <paramref name="shape"/>: some dims set to 1, maybe fewer leading dims.</summary>
    public static int[] BroadcastPartner(Random rng, int[] shape)
    {
        int drop = shape.Length == 0 ? 0 : rng.Next(0, shape.Length + 1);
        var s = shape[drop..].ToArray();
        for (int i = 0; i < s.Length; i++) if (rng.Next(3) == 0) s[i] = 1;
        return s;
    }

    public static double RandomValue(Random rng, DType dtype) => dtype switch
    {
        DType.Bool => rng.Next(2),
        DType.Int32 or DType.Int64 => rng.Next(-5, 6),
        _ => Math.Round(rng.NextDouble() * 4 - 2, 6),
    };

    /// <summary>A contiguous tensor of random values.</summary>
    public static Tensor Random(Random rng, int[] shape, DType dtype)
    {
        var t = Tensor.Zeros(shape, dtype);
        foreach (var idx in Indices(shape)) SetDouble(t, RandomValue(rng, dtype), idx);
        return t;
    }

    /// <summary>A tensor with the given logical shape and random values, laid out as <paramref name="layout"/>.</summary>
    public static Tensor Random(Random rng, int[] shape, DType dtype, Layout layout)
    {
        var (baseTensor, view) = RandomView(rng, shape, dtype, layout);
        return view(baseTensor);
    }

    /// <summary>A contiguous random base tensor and the view ops that turn it into the requested logical shape and
    /// layout. Apply the same ops to a copy of the base on another device to get the same view there.</summary>
    public static (Tensor Base, Func<Tensor, Tensor> View) RandomView(Random rng, int[] shape, DType dtype, Layout layout)
    {
        int rank = shape.Length;
        switch (layout)
        {
            case Layout.Permuted when rank >= 2:
            {
                var perm = Enumerable.Range(0, rank).OrderBy(_ => rng.Next()).ToArray();
                // base has shape[perm[i]] at position i; permuting by inverse(perm) restores shape.
                var baseShape = perm.Select(p => shape[p]).ToArray();
                var inv = new int[rank];
                for (int i = 0; i < rank; i++) inv[perm[i]] = i;
                return (Random(rng, baseShape, dtype), t => t.Permute(inv));
            }
            case Layout.SteppedSlice when rank >= 1 && shape.All(s => s > 0):
            {
                int d = rng.Next(rank), step = rng.Next(2, 4), start = rng.Next(0, 3);
                var baseShape = (int[])shape.Clone();
                baseShape[d] = start + (shape[d] - 1) * step + 1 + rng.Next(0, 2);
                return (Random(rng, baseShape, dtype), t => t.Slice(d, start, baseShape[d], step).Narrow(d, 0, shape[d]));
            }
            case Layout.Expanded when rank >= 1:
            {
                var baseShape = (int[])shape.Clone();
                for (int i = 0; i < rank; i++) if (rng.Next(2) == 0) baseShape[i] = 1;
                return (Random(rng, baseShape, dtype), t => t.Expand(shape));
            }
            default:
                return (Random(rng, shape, dtype), t => t);
        }
    }

    public static IEnumerable<int[]> Indices(int[] shape)
    {
        int n = 1;
        foreach (int d in shape) n *= d;
        var idx = new int[shape.Length];
        for (int k = 0; k < n; k++)
        {
            yield return (int[])idx.Clone();
            for (int d = shape.Length - 1; d >= 0; d--)
            {
                if (++idx[d] < shape[d]) break;
                idx[d] = 0;
            }
        }
    }

    public static void SetDouble(Tensor t, double v, int[] idx)
    {
        switch (t.DType)
        {
            case DType.Float32: t.Set((float)v, idx); break;
            case DType.Float64: t.Set(v, idx); break;
            case DType.Int32: t.Set((int)v, idx); break;
            case DType.Int64: t.Set((long)v, idx); break;
            case DType.Bool: t.Set(v != 0, idx); break;
        }
    }

    /// <summary>Reads every element through index arithmetic (independent of kernels), row-major.</summary>
    public static double[] Values(Tensor t) => Indices(t.ShapeArray()).Select(i => t.GetDouble(i)).ToArray();
}
