namespace Sparkle.Sparse.Kernels;

/// <summary>
/// The active sites of one (B, H, W) resolution as column runs per image row, and the vector chunks (VW columns
/// starting at multiples of VW) that hold an active column, grouped into blocks of at most 4 adjacent chunks: per
/// single row (weight gradients) and per pair of rows 2p, 2p + 1 (the union, for the two-row register block).
/// Masks are patch-aligned, so rows within a patch row repeat the same lists; they are built once per resolution.
/// </summary>
internal sealed class PlaneRuns
{
    public const int MaxBlock = 4;

    public int Batch { get; }
    public int Height { get; }
    public int Width { get; }
    public int VW { get; }
    /// <summary>Runs of image row (b, y) are [RunStart[b·H + y], RunStart[b·H + y + 1]) in X0/X1 ([x0, x1)).</summary>
    public int[] RunStart { get; }
    public int[] X0 { get; }
    public int[] X1 { get; }
    /// <summary>Chunk blocks of row (b, y): [RowBlockStart[b·H + y], ...+1) in BlockCol (first column) / BlockVecs.</summary>
    public int[] RowBlockStart { get; }
    /// <summary>Chunk blocks of row pair (b, p) = rows 2p and 2p + 1 (the union): [PairBlockStart[b·P + p], ...+1).</summary>
    public int[] PairBlockStart { get; }
    public int[] BlockCol { get; }
    public int[] BlockVecs { get; }
    public int Pairs => (Height + 1) / 2;

    public PlaneRuns(ActiveMask mask, int h, int w, int vw)
    {
        var (ry, rx) = mask.RepeatFactors(h, w, "PlaneRuns");
        Batch = mask.Batch; Height = h; Width = w; VW = vw;
        int nb = Batch, chunks = (w + vw - 1) / vw;
        var x0 = new List<int>(); var x1 = new List<int>();
        RunStart = new int[nb * h + 1];
        var active = new bool[nb * h * chunks];
        for (int b = 0; b < nb; b++)
            for (int y = 0; y < h; y++)
            {
                RunStart[b * h + y] = x0.Count;
                int py = y / ry;
                for (int px = 0; px < mask.Width;)
                {
                    if (!mask[b, py, px]) { px++; continue; }
                    int e = px;
                    while (e < mask.Width && mask[b, py, e]) e++;
                    int a0 = px * rx, a1 = e * rx;
                    x0.Add(a0); x1.Add(a1);
                    for (int q = a0 / vw; q <= (a1 - 1) / vw; q++) active[(b * h + y) * chunks + q] = true;
                    px = e;
                }
            }
        RunStart[nb * h] = x0.Count;
        X0 = [.. x0]; X1 = [.. x1];
        var col = new List<int>(); var vecs = new List<int>();
        void Blocks(Func<int, bool> on)
        {
            for (int q = 0; q < chunks;)
            {
                if (!on(q)) { q++; continue; }
                int e = q;
                while (e < chunks && e - q < MaxBlock && on(e)) e++;
                col.Add(q * vw); vecs.Add(e - q);
                q = e;
            }
        }
        RowBlockStart = new int[nb * h + 1];
        for (int i = 0; i < nb * h; i++)
        {
            RowBlockStart[i] = col.Count;
            Blocks(q => active[i * chunks + q]);
        }
        RowBlockStart[nb * h] = col.Count;
        int pairs = Pairs;
        PairBlockStart = new int[nb * pairs + 1];
        for (int b = 0; b < nb; b++)
            for (int p = 0; p < pairs; p++)
            {
                PairBlockStart[b * pairs + p] = col.Count;
                int r0 = (b * h + 2 * p) * chunks, r1 = 2 * p + 1 < h ? r0 + chunks : r0;
                Blocks(q => active[r0 + q] || active[r1 + q]);
            }
        PairBlockStart[nb * pairs] = col.Count;
        BlockCol = [.. col]; BlockVecs = [.. vecs];
    }
}
