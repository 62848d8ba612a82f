using Sparkle.Tensors;
using Sparkle.Tensors.Backend;

namespace Sparkle.Sparse;

/// <summary>
/// For each active output site (row r of <see cref="Out"/>) and kernel tap t (row-major ky, kx), the row of the
/// active input site it reads, or −1 (outside the image or masked): <c>Rows[r * Taps + t]</c>. <see cref="Inverse"/> is
/// the transpose (for each input row and tap, the output row that reads it, or −1), so input gradients are a gather
/// too (deterministic, no scatter conflicts). Built on the host on first use (a kernel that needs no map never pays for
/// it), once per forward and geometry, and shared by forward, input gradient and weight gradient; the kernels of a device
/// get it as a <see cref="SparseConvMap"/> (<see cref="On"/>). The arrays are Int32 tensors (pooled inside
/// <c>TensorPool.Use()</c>).
/// </summary>
public sealed class NeighbourMap
{
    private readonly Dictionary<Device, SparseConvMap> _on = [];
    private Tensor? _rows, _inverse;

    internal NeighbourMap(ConvGeometry g, ActiveSites input, ActiveSites output)
    {
        Geometry = g;
        In = input;
        Out = output;
    }

    public ConvGeometry Geometry { get; }
    public ActiveSites In { get; }
    public ActiveSites Out { get; }
    public int Taps => Geometry.Taps;
    /// <summary>1x1 stride 1: output row r reads input row r (no map).</summary>
    public bool IsIdentity => Geometry.IsPointwise;

    /// <summary>Int32 (Out.Count · Taps) on the host.</summary>
    public Tensor Rows
    {
        get
        {
            lock (this) return _rows ??= BuildRows();
        }
    }

    /// <summary>Int32 (In.Count · Taps) on the host.</summary>
    public Tensor Inverse
    {
        get
        {
            lock (this) return _inverse ??= BuildInverse(Rows);
        }
    }

    /// <summary>This map for the kernels of <paramref name="device"/> (cached; the index tensors are built and uploaded
    /// when a kernel first asks for them).</summary>
    public SparseConvMap On(Device device)
    {
        lock (_on)
        {
            if (_on.TryGetValue(device, out var m)) return m;
            var g = Geometry;
            Func<Tensor, Tensor> to = t => device == Device.Cpu ? t : t.To(device);
            m = new SparseConvMap(g.KernelH, g.KernelW, g.StrideH, g.StrideW, g.PadH, g.PadW, g.DilationH, g.DilationW,
                In.On(device), Out.On(device), () => to(Rows), () => to(Inverse));
            _on[device] = m;
            return m;
        }
    }

    private Tensor BuildRows()
    {
        if (IsIdentity) throw new InvalidOperationException("NeighbourMap: a 1x1 stride-1 geometry has no map (IsIdentity).");
        var g = Geometry;
        int taps = Taps, hin = g.InH, win = g.InW, hout = Out.Height, wout = Out.Width;
        var t = Tensor.Empty([Out.Count * taps], DType.Int32);   // every element is written below
        var rows = t.HostSpan<int>();
        var rowOf = In.RowOf;
        var sites = Out.Sites;
        for (int r = 0, k = 0; r < sites.Length; r++)
        {
            int s = sites[r];
            int b = s / (hout * wout), rem = s - b * hout * wout, oy = rem / wout, ox = rem - oy * wout;
            for (int ky = 0; ky < g.KernelH; ky++)
            {
                int iy = oy * g.StrideH - g.PadH + ky * g.DilationH;
                for (int kx = 0; kx < g.KernelW; kx++, k++)
                {
                    int ix = ox * g.StrideW - g.PadW + kx * g.DilationW;
                    rows[k] = (uint)iy < (uint)hin && (uint)ix < (uint)win ? rowOf[(b * hin + iy) * win + ix] : -1;
                }
            }
        }
        return t;
    }

    private Tensor BuildInverse(Tensor rowsT)
    {
        int taps = Taps;
        var t = Tensor.Empty([In.Count * taps], DType.Int32);
        var inv = t.HostSpan<int>();
        inv.Fill(-1);
        var rows = rowsT.HostSpan<int>();
        for (int r = 0; r < Out.Count; r++)
            for (int k = 0; k < taps; k++)
            {
                int i = rows[r * taps + k];
                if (i >= 0) inv[i * taps + k] = r;
            }
        return t;
    }
}
