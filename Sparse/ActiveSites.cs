namespace Sparkle.Sparse;

/// <summary>
/// The active sites of one (B, H, W) resolution: <see cref="Sites"/> lists b*H*W + y*W + x of every active site in
/// ascending order (row r of a channels-last row matrix is site Sites[r]); <see cref="RowOf"/> maps every site to its
/// row or −1 when masked. Built once per forward by <see cref="SparseContext"/>; the arrays are pooled
/// (<see cref="PooledInts"/>) and stay valid while this object is reachable.
/// </summary>
public sealed class ActiveSites
{
    private readonly PooledInts _sites, _rowOf;

    internal ActiveSites(ActiveMask mask, int height, int width)
    {
        var (ry, rx) = mask.RepeatFactors(height, width, "ActiveSites");
        Batch = mask.Batch;
        Height = height;
        Width = width;
        int count = 0;
        for (int b = 0; b < Batch; b++)
            for (int y = 0; y < height; y++)
                for (int x = 0; x < width; x++)
                    if (mask.ActiveAt(b, y, x, ry, rx)) count++;
        _rowOf = PooledInts.Empty(Batch * height * width);
        _sites = PooledInts.Empty(count);
        var rowOf = _rowOf.Data;
        var sites = _sites.Data;
        int i = 0, n = 0;
        for (int b = 0; b < Batch; b++)
            for (int y = 0; y < height; y++)
                for (int x = 0; x < width; x++, i++)
                {
                    if (mask.ActiveAt(b, y, x, ry, rx)) { rowOf[i] = n; sites[n++] = i; }
                    else rowOf[i] = -1;
                }
        BatchStart = new int[Batch + 1];
        for (int b = 0, r = 0; b <= Batch; b++)
        {
            while (r < sites.Length && sites[r] < b * height * width) r++;
            BatchStart[b] = r;
        }
    }

    public int Batch { get; }
    public int Height { get; }
    public int Width { get; }
    /// <summary>Number of active sites (rows).</summary>
    public int Count => _sites.Data.Length;
    public int[] Sites => _sites.Data;
    public int[] RowOf => _rowOf.Data;
    /// <summary>Rows of image b are [BatchStart[b], BatchStart[b + 1]).</summary>
    public int[] BatchStart { get; }
}
