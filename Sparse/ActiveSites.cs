using Sparkle.Tensors;
using Sparkle.Tensors.Backend;

namespace Sparkle.Sparse;

/// <summary>
/// The active sites of one (B, H, W) resolution, built on the host from the mask: <see cref="Sites"/> lists
/// b*H*W + y*W + x of every active site in ascending order (row r of a channels-last row matrix is site Sites[r]);
/// <see cref="RowOf"/> maps every site to its row or −1 when masked. Built once per forward by <see cref="SparseContext"/>
/// into Int32 tensors (from the TensorPool inside <c>TensorPool.Use()</c>: the same lengths every step), and handed to the
/// kernels of a device as <see cref="SparseSites"/> (<see cref="On"/>: the CPU's are these tensors, another device gets
/// one upload per forward and resolution).
/// </summary>
public sealed class ActiveSites
{
    private readonly Tensor _sites, _rowOf;
    private readonly ActiveMask _mask;
    private readonly Dictionary<Device, SparseSites> _on = [];

    internal ActiveSites(ActiveMask mask, int height, int width)
    {
        var (ry, rx) = mask.RepeatFactors(height, width, "ActiveSites");
        _mask = mask;
        Batch = mask.Batch;
        Height = height;
        Width = width;
        int count = 0;
        for (int b = 0; b < Batch; b++)
            for (int y = 0; y < height; y++)
                for (int x = 0; x < width; x++)
                    if (mask.ActiveAt(b, y, x, ry, rx)) count++;
        _rowOf = Tensor.Empty([Batch * height * width], DType.Int32);   // every element is written below
        _sites = Tensor.Empty([count], DType.Int32);
        var rowOf = _rowOf.HostSpan<int>();
        var sites = _sites.HostSpan<int>();
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
    public int Count => _sites.NumElements;
    public ReadOnlySpan<int> Sites => _sites.HostSpan<int>();
    public ReadOnlySpan<int> RowOf => _rowOf.HostSpan<int>();
    /// <summary>Rows of image b are [BatchStart[b], BatchStart[b + 1]).</summary>
    public int[] BatchStart { get; }

    /// <summary>These sites for the kernels of <paramref name="device"/> (cached: one upload per device).</summary>
    public SparseSites On(Device device)
    {
        lock (_on)
        {
            if (_on.TryGetValue(device, out var s)) return s;
            var (sites, rowOf) = device == Device.Cpu ? (_sites, _rowOf) : (_sites.To(device), _rowOf.To(device));
            s = new SparseSites(Batch, Height, Width, Count, sites, rowOf, _mask.Height, _mask.Width, _mask.Bits);
            _on[device] = s;
            return s;
        }
    }
}
