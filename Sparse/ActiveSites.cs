namespace Sparkle.Sparse;

/// <summary>
/// The active sites of one (B, H, W) resolution: <see cref="Sites"/> lists b*H*W + y*W + x of every active site in
/// ascending order (row r of a channels-last row matrix is site Sites[r]); <see cref="RowOf"/> maps every site to its
/// row or −1 when masked. Built once per forward by <see cref="SparseContext"/>.
/// </summary>
public sealed class ActiveSites
{
    internal ActiveSites(ActiveMask mask, int height, int width)
    {
        var (ry, rx) = mask.RepeatFactors(height, width, "ActiveSites");
        Batch = mask.Batch;
        Height = height;
        Width = width;
        RowOf = new int[Batch * height * width];
        var sites = new List<int>(RowOf.Length / 2);
        int i = 0;
        for (int b = 0; b < Batch; b++)
            for (int y = 0; y < height; y++)
                for (int x = 0; x < width; x++, i++)
                {
                    if (mask.ActiveAt(b, y, x, ry, rx)) { RowOf[i] = sites.Count; sites.Add(i); }
                    else RowOf[i] = -1;
                }
        Sites = sites.ToArray();
        BatchStart = new int[Batch + 1];
        for (int b = 0, r = 0; b <= Batch; b++)
        {
            while (r < Sites.Length && Sites[r] < b * height * width) r++;
            BatchStart[b] = r;
        }
    }

    public int Batch { get; }
    public int Height { get; }
    public int Width { get; }
    /// <summary>Number of active sites (rows).</summary>
    public int Count => Sites.Length;
    public int[] Sites { get; }
    public int[] RowOf { get; }
    /// <summary>Rows of image b are [BatchStart[b], BatchStart[b + 1]).</summary>
    public int[] BatchStart { get; }
}
