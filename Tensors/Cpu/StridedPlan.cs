namespace Sparkle.Tensors.Cpu;

/// <summary>
/// Iteration plan over several same-shaped strided operands: dims are collapsed where every operand is
/// contiguous across them, size-1 dims are dropped, and the last dim becomes the "row" that kernels
/// process with SIMD (stride 1), broadcast (stride 0) or a scalar gather (other strides).
/// </summary>
internal sealed class StridedPlan
{
    public readonly int[] Shape;      // collapsed, rank >= 1
    public readonly int[][] Strides;  // [operand][dim]
    public readonly int[] Offsets;    // [operand]
    public readonly int Rows;         // product of all dims but the last
    public int RowLength => Shape[^1];
    public int Operands => Offsets.Length;

    public StridedPlan(ReadOnlySpan<int> shape, params Tensor[] ops)
    {
        int n = ops.Length;
        var dims = new List<int>();
        var strides = new List<int>[n];
        for (int k = 0; k < n; k++) strides[k] = new List<int>();
        // Walk from the innermost dim outward, merging into the current innermost-kept dim when possible.
        for (int d = shape.Length - 1; d >= 0; d--)
        {
            if (shape[d] == 1) continue;
            if (dims.Count > 0)
            {
                int last = dims.Count - 1;
                bool merge = true;
                for (int k = 0; k < n && merge; k++)
                    merge = ops[k].Strides[d] == strides[k][last] * dims[last];
                if (merge) { dims[last] *= shape[d]; continue; }
            }
            dims.Add(shape[d]);
            for (int k = 0; k < n; k++) strides[k].Add(ops[k].Strides[d]);
        }
        if (dims.Count == 0) { dims.Add(1); for (int k = 0; k < n; k++) strides[k].Add(1); }
        dims.Reverse();
        Shape = [.. dims];
        Strides = new int[n][];
        Offsets = new int[n];
        for (int k = 0; k < n; k++)
        {
            strides[k].Reverse();
            Strides[k] = [.. strides[k]];
            Offsets[k] = ops[k].Offset;
        }
        int rows = 1;
        for (int d = 0; d < Shape.Length - 1; d++) rows *= Shape[d];
        // An empty tensor (some dim 0) has no rows at all, whatever the other dims are.
        Rows = Shape[^1] == 0 ? 0 : rows;
    }

    public int InnerStride(int operand) => Strides[operand][^1];

    /// <summary>Calls rowAction(offsets, RowLength) for rows [rowStart, rowEnd); offsets[k] is the storage index
    /// of the row's first element in operand k. The offsets array is reused between calls.</summary>
    public void ForRows(int rowStart, int rowEnd, RowAction rowAction)
    {
        if (rowStart >= rowEnd) return;
        int outer = Shape.Length - 1, n = Offsets.Length;
        Span<int> idx = stackalloc int[Math.Max(outer, 1)];
        var offs = new int[n];
        // Decompose rowStart into an index over the outer dims.
        int r = rowStart;
        for (int d = outer - 1; d >= 0; d--) { idx[d] = r % Shape[d]; r /= Shape[d]; }
        for (int k = 0; k < n; k++)
        {
            int o = Offsets[k];
            for (int d = 0; d < outer; d++) o += idx[d] * Strides[k][d];
            offs[k] = o;
        }
        for (int row = rowStart; row < rowEnd; row++)
        {
            rowAction(offs, Shape[^1]);
            // Advance the odometer and the offsets incrementally.
            for (int d = outer - 1; d >= 0; d--)
            {
                idx[d]++;
                for (int k = 0; k < n; k++) offs[k] += Strides[k][d];
                if (idx[d] < Shape[d]) break;
                for (int k = 0; k < n; k++) offs[k] -= Strides[k][d] * Shape[d];
                idx[d] = 0;
            }
        }
    }

    /// <summary>Runs all rows, in parallel chunks when the work is large enough to pay for threading.
    /// A single long row is split into segments (rowAction then gets the segment's offsets and length).</summary>
    public void ParallelRows(RowAction rowAction, int minElementsPerChunk = 1 << 15)
    {
        if (Rows == 0) return;
        if (Rows == 1)
        {
            IntraOpPool.ForRange(RowLength, minElementsPerChunk, (a, b) =>
            {
                var offs = new int[Offsets.Length];
                for (int k = 0; k < offs.Length; k++) offs[k] = Offsets[k] + a * InnerStride(k);
                rowAction(offs, b - a);
            });
            return;
        }
        int grain = Math.Max(1, minElementsPerChunk / Math.Max(1, RowLength));
        IntraOpPool.ForRange(Rows, grain, (a, b) => ForRows(a, b, rowAction));
    }
}

/// <summary>Processes count elements of a row; offsets[k] is where operand k's segment starts.</summary>
internal delegate void RowAction(int[] offsets, int count);
