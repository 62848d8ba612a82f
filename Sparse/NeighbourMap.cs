namespace Sparkle.Sparse;

/// <summary>
/// For each active output site (row r of <see cref="Out"/>) and kernel tap t (row-major ky, kx), the row of the
/// active input site it reads, or −1 (outside the image or masked): <c>Rows[r * Taps + t]</c>. <see cref="Inverse"/> is
/// the transpose (for each input row and tap, the output row that reads it, or −1), so input gradients are a gather
/// too (deterministic, no scatter conflicts). Built once per forward and resolution, shared by forward, input
/// gradient and weight gradient. The arrays are pooled (<see cref="PooledInts"/>): valid while this map is reachable.
/// </summary>
public sealed class NeighbourMap
{
    private int[]? _inverse;
    private Sparkle.Tensors.Tensor? _rowsHolder, _inverseHolder;

    internal NeighbourMap(ConvGeometry g, ActiveSites input, ActiveSites output)
    {
        Geometry = g;
        In = input;
        Out = output;
        Taps = g.Taps;
        IsIdentity = g.IsPointwise;
        if (IsIdentity) { Rows = []; return; }
        int taps = Taps, hin = g.InH, win = g.InW, hout = output.Height, wout = output.Width;
        var pooled = PooledInts.Empty(output.Count * taps);   // every element is written below
        _rowsHolder = pooled.Holder;
        var rows = pooled.Data;
        var rowOf = input.RowOf;
        Sparkle.Tensors.Cpu.IntraOpPool.ForRange(output.Count, 256, (r0, r1) =>
        {
            for (int r = r0; r < r1; r++)
            {
                int s = output.Sites[r];
                int b = s / (hout * wout), rem = s - b * hout * wout, oy = rem / wout, ox = rem - oy * wout;
                int t = r * taps;
                for (int ky = 0; ky < g.KernelH; ky++)
                {
                    int iy = oy * g.StrideH - g.PadH + ky * g.DilationH;
                    for (int kx = 0; kx < g.KernelW; kx++, t++)
                    {
                        int ix = ox * g.StrideW - g.PadW + kx * g.DilationW;
                        rows[t] = (uint)iy < (uint)hin && (uint)ix < (uint)win ? rowOf[(b * hin + iy) * win + ix] : -1;
                    }
                }
            }
        });
        Rows = rows;
    }

    public ConvGeometry Geometry { get; }
    public ActiveSites In { get; }
    public ActiveSites Out { get; }
    public int Taps { get; }
    /// <summary>1x1 stride 1: output row r reads input row r (Rows is empty).</summary>
    public bool IsIdentity { get; }
    public int[] Rows { get; }

    public int[] Inverse
    {
        get
        {
            if (_inverse is not null || IsIdentity) return _inverse ?? [];
            lock (this)
            {
                if (_inverse is not null) return _inverse;
                var pooled = PooledInts.Empty(In.Count * Taps);
                var inv = pooled.Data;
                Array.Fill(inv, -1);
                for (int r = 0; r < Out.Count; r++)
                    for (int t = 0; t < Taps; t++)
                    {
                        int i = Rows[r * Taps + t];
                        if (i >= 0) inv[i * Taps + t] = r;
                    }
                _inverseHolder = pooled.Holder;
                _inverse = inv;
                return inv;
            }
        }
    }
}
