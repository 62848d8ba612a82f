namespace Sparkle.Tensors.Cpu.Reduce;

/// <summary>How a reduction walks memory; chosen once per call from the layout (see docs/elementwise.md).</summary>
internal enum ReduceKind
{
    /// <summary>The innermost reduced dim is contiguous: each output reduces whole contiguous rows (SIMD, several accumulators).</summary>
    Inner,
    /// <summary>The innermost kept dim is contiguous: contiguous rows of outputs accumulate row after row (vertical SIMD).</summary>
    Outer,
    /// <summary>Neither (e.g. broadcast or gathered layouts): scalar loops.</summary>
    Generic,
}

/// <summary>
/// A reduction of x over some axes into a keepdim-shaped contiguous dst, reorganised as kept dims K and
/// reduced dims R. Size-1 dims are dropped; each group is sorted by x stride (innermost last) and collapsed
/// where x (and, for K, dst) is contiguous across neighbours. Every decision depends only on shapes and
/// strides, never on the thread count, so the summation order (and the result bits) is fixed.
/// </summary>
internal sealed class ReducePlan
{
    /// <summary>Elements in one summation chunk: long reductions are cut into chunks reduced independently
    /// (in parallel) and then combined in chunk order.</summary>
    public const int ChunkElements = 1 << 14;

    public readonly int[] KShape, KxStrides, KdStrides;
    public readonly int[] RShape, RxStrides;
    public readonly int XOffset;
    /// <summary>Outputs and elements per output.</summary>
    public readonly int M, N;
    public readonly ReduceKind Kind;
    public readonly int Chunks;
    /// <summary>Inner: rows of R per chunk, or segments per row when a row is longer than a chunk.</summary>
    public readonly int RowsPerChunk, SegmentsPerRow;
    /// <summary>The vector width of the row loops (the backend's <see cref="CpuKernelOptions.Width"/>): outer reductions
    /// give the same bits at every width, inner ones the same up to the last bits of a sum.</summary>
    public SimdWidth Width { get; init; }

    public ReducePlan(Tensor x, ReadOnlySpan<int> axes)
    {
        var shape = x.Shape;
        var xs = x.Strides;
        var dstStrides = KeepDimStrides(shape, axes);
        var k = new List<(int Size, int Xs, int Ds, int Dim)>();
        var r = new List<(int Size, int Xs, int Ds, int Dim)>();
        for (int d = 0; d < shape.Length; d++)
        {
            if (shape[d] == 1) continue;
            (axes.Contains(d) ? r : k).Add((shape[d], xs[d], dstStrides[d], d));
        }
        (KShape, KxStrides, KdStrides) = Collapse(k, withDst: true);
        (RShape, RxStrides, _) = Collapse(r, withDst: false);
        XOffset = x.Offset;
        M = Product(KShape);
        N = Product(RShape);

        if (RShape.Length > 0 && RxStrides[^1] == 1) Kind = ReduceKind.Inner;
        else if (KShape.Length > 0 && KxStrides[^1] == 1) Kind = ReduceKind.Outer;
        else Kind = ReduceKind.Generic;

        int lr = RShape.Length > 0 ? RShape[^1] : 1;
        if (N == 0 || M == 0) { Chunks = 1; RowsPerChunk = 1; SegmentsPerRow = 1; return; }
        switch (Kind)
        {
            case ReduceKind.Inner when lr >= ChunkElements:
                SegmentsPerRow = (lr + ChunkElements - 1) / ChunkElements;
                RowsPerChunk = 1;
                Chunks = (N / lr) * SegmentsPerRow;
                break;
            case ReduceKind.Inner:
                SegmentsPerRow = 1;
                RowsPerChunk = Math.Max(1, ChunkElements / lr);
                Chunks = (N / lr + RowsPerChunk - 1) / RowsPerChunk;
                break;
            case ReduceKind.Outer:
            {
                // Units are (kept group, segment of the contiguous kept row); cut R into chunks only when there
                // are too few units to keep the pool busy (a constant, not the thread count).
                int units = (M / KShape[^1]) * OuterSegments;
                int want = units >= 16 ? 1 : Math.Min(N, 64 / units);
                RowsPerChunk = Math.Max(8, (N + want - 1) / Math.Max(1, want));
                Chunks = Math.Max(1, (N + RowsPerChunk - 1) / RowsPerChunk);
                SegmentsPerRow = 1;
                break;
            }
            default:
                RowsPerChunk = ChunkElements;
                SegmentsPerRow = 1;
                Chunks = Math.Max(1, (N + ChunkElements - 1) / ChunkElements);
                break;
        }
    }

    /// <summary>Outer kind: the contiguous kept row is processed in segments of this many outputs.</summary>
    public const int OuterSegment = 2048;
    public int OuterRow => KShape[^1];
    public int OuterSegments => (OuterRow + OuterSegment - 1) / OuterSegment;

    private static int[] KeepDimStrides(ReadOnlySpan<int> shape, ReadOnlySpan<int> axes)
    {
        var keep = shape.ToArray();
        foreach (int a in axes) keep[a] = 1;
        return ShapeUtil.ContiguousStrides(keep);
    }

    private static (int[] Shape, int[] Xs, int[] Ds) Collapse(List<(int Size, int Xs, int Ds, int Dim)> dims, bool withDst)
    {
        // Outermost first: larger x stride first, ties by original dim order (stable).
        var sorted = dims.OrderByDescending(d => d.Xs).ThenBy(d => d.Dim).ToList();
        var outS = new List<int>(); var outX = new List<int>(); var outD = new List<int>();
        foreach (var d in sorted)
        {
            int last = outS.Count - 1;
            if (last >= 0 && outX[last] == d.Xs * d.Size && (!withDst || outD[last] == d.Ds * d.Size))
            {
                // the previous (outer) dim continues this one: merge into one dim with the inner strides
                outS[last] *= d.Size; outX[last] = d.Xs; outD[last] = d.Ds;
                continue;
            }
            outS.Add(d.Size); outX.Add(d.Xs); outD.Add(d.Ds);
        }
        return ([.. outS], [.. outX], [.. outD]);
    }

    private static int Product(int[] s)
    {
        int p = 1;
        foreach (int v in s) p *= v;
        return p;
    }
}
