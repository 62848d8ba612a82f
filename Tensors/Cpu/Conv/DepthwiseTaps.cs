namespace Sparkle.Tensors.Cpu.Conv;

/// <summary>
/// One depthwise correlation as the kernels see it: out[i, j] = Σ_{ri, ci} w[kh(ri), kw(ci)] · src[Row0 + i·RS + DR[ri],
/// Col0 + j·CS + DC[ci]] over an output grid of Rows x Cols. The forward is one such grid (src = x, offsets from the
/// taps, RS/CS = stride); the input gradient is one per stride phase (a, b) of dx (src = dy, RS = CS = 1, only the
/// taps whose offsets are whole numbers) stored at dx[A + i·SH, B + j·SW].
/// </summary>
internal sealed class DepthwiseTaps
{
    public int Rows, Cols, RS, CS, Row0, Col0, A, B, GridStepH = 1, GridStepW = 1;
    public int[] DR = [], DC = [], Kh = [], Kw = [];
    /// <summary>Distinct source rows of an output row pair (i, i+1), relative to i·RS: the tap row serving row i
    /// (or −1) and the one serving row i + 1 (or −1).</summary>
    public (int Rho, int R0, int R1)[] Pairs = [];
    public int DRMax => DR.Length == 0 ? 0 : DR.Max();
    public int DCMax => DC.Length == 0 ? 0 : DC.Max();
    public bool Empty => DR.Length == 0 || DC.Length == 0;

    public static DepthwiseTaps Forward(ConvGeometry g)
    {
        var t = new DepthwiseTaps { Rows = g.OH, Cols = g.OW, RS = g.SH, CS = g.SW, Row0 = -g.PH, Col0 = -g.PW };
        t.Kh = Enumerable.Range(0, g.KH).ToArray();
        t.Kw = Enumerable.Range(0, g.KW).ToArray();
        t.DR = t.Kh.Select(k => k * g.DH).ToArray();
        t.DC = t.Kw.Select(k => k * g.DW).ToArray();
        t.BuildPairs();
        return t;
    }

    /// <summary>Stride phase (a, b) of the input gradient (grid of dx pixels (a + i·SH, b + j·SW)).</summary>
    public static DepthwiseTaps BackwardPhase(ConvGeometry g, int a, int b)
    {
        var t = new DepthwiseTaps { A = a, B = b, RS = 1, CS = 1, GridStepH = g.SH, GridStepW = g.SW };
        t.Rows = a < g.H ? (g.H - a + g.SH - 1) / g.SH : 0;
        t.Cols = b < g.W ? (g.W - b + g.SW - 1) / g.SW : 0;
        var kh = new List<int>(); var e = new List<int>();
        for (int k = 0; k < g.KH; k++)
        {
            int v = a + g.PH - k * g.DH;
            if (ConvGeometry.FloorDiv(v, g.SH) * g.SH == v) { kh.Add(k); e.Add(v / g.SH); }
        }
        var kw = new List<int>(); var f = new List<int>();
        for (int k = 0; k < g.KW; k++)
        {
            int v = b + g.PW - k * g.DW;
            if (ConvGeometry.FloorDiv(v, g.SW) * g.SW == v) { kw.Add(k); f.Add(v / g.SW); }
        }
        t.Kh = [.. kh]; t.Kw = [.. kw];
        if (kh.Count > 0 && kw.Count > 0)
        {
            t.Row0 = e.Min(); t.Col0 = f.Min();
            t.DR = e.Select(v => v - t.Row0).ToArray();
            t.DC = f.Select(v => v - t.Col0).ToArray();
        }
        t.BuildPairs();
        return t;
    }

    /// <summary>The distinct source rows of a block of <paramref name="rows"/> output rows (i .. i + rows − 1), relative
    /// to i·RS, ascending, and for each the tap row serving each output row of the block (Ri[k·rows + r], or −1): the
    /// generalisation of <see cref="Pairs"/> the channels-last kernels run at 2 or 4 rows. Every output row meets its
    /// taps in ascending kernel row order at any block height, so the height does not change any sum.</summary>
    public (int[] Rho, int[] Ri) RowSets(int rows)
    {
        var rhos = new SortedSet<int>();
        foreach (int d in DR)
            for (int r = 0; r < rows; r++) rhos.Add(r * RS + d);
        int[] rho = [.. rhos];
        var ri = new int[rho.Length * rows];
        for (int k = 0; k < rho.Length; k++)
            for (int r = 0; r < rows; r++) ri[k * rows + r] = Array.IndexOf(DR, rho[k] - r * RS);
        return (rho, ri);
    }

    private void BuildPairs()
    {
        var rhos = new SortedSet<int>();
        foreach (int d in DR) { rhos.Add(d); rhos.Add(RS + d); }
        Pairs = rhos.Select(r => (r, Array.IndexOf(DR, r), Array.IndexOf(DR, r - RS))).ToArray();
    }
}
