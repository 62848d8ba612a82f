using Sparkle.Tensors;
using Sparkle.Tensors.Backend;

namespace Sparkle.Sparse;

/// <summary>
/// The per-forward mask context: <c>using (SparseContext.Begin(mask)) encoder.Forward(x);</c>. Sparse layers read
/// the innermost open context of the calling thread. Per resolution it caches the active sites and the dense {0, 1}
/// mask; per convolution geometry the neighbour map. Everything is built on first use and shared by all layers of
/// that forward (and captured by their backward closures, so a backward after the scope closed still works).
/// Scopes nest and are per thread; there is no other global state.
/// </summary>
public sealed class SparseContext : IDisposable
{
    [ThreadStatic] private static SparseContext? _current;

    private readonly SparseContext? _outer;
    private readonly Dictionary<(int H, int W), ActiveSites> _sites = [];
    private readonly Dictionary<(int H, int W, DType D, Device Dev), Tensor> _masks = [];
    private readonly Dictionary<ConvGeometry, NeighbourMap> _maps = [];
    private bool _disposed;

    private SparseContext(ActiveMask mask, SparseContext? outer)
    {
        Mask = mask;
        _outer = outer;
    }

    /// <summary>Opens a scope on this thread; dispose it to return to the outer scope.</summary>
    public static SparseContext Begin(ActiveMask mask)
    {
        ArgumentNullException.ThrowIfNull(mask);
        var c = new SparseContext(mask, _current);
        _current = c;
        return c;
    }

    /// <summary>Opens a scope from a (B, 1, f, f) mask tensor.</summary>
    public static SparseContext Begin(Tensor mask) => Begin(new ActiveMask(mask));

    /// <summary>The innermost open scope of this thread, or null.</summary>
    public static SparseContext? Current => _current;

    /// <summary>The current scope; throws with the op's name when none is open.</summary>
    public static SparseContext Require(string op) => _current
        ?? throw new InvalidOperationException($"{op} needs an active mask: run the forward inside `using (SparseContext.Begin(mask)) {{ ... }}`.");

    public ActiveMask Mask { get; }

    /// <summary>Active sites at an (H, W) map (cached).</summary>
    public ActiveSites Sites(int h, int w)
    {
        lock (_sites)
        {
            if (!_sites.TryGetValue((h, w), out var s)) _sites[(h, w)] = s = new ActiveSites(Mask, h, w);
            return s;
        }
    }

    /// <summary>The dense {0, 1} mask (B, 1, H, W) in <paramref name="dtype"/> (cached).</summary>
    public Tensor DenseMask(int h, int w, DType dtype = DType.Float32, Device? device = null)
    {
        var dev = device ?? Device.Cpu;
        lock (_masks)
        {
            if (_masks.TryGetValue((h, w, dtype, dev), out var m)) return m;
            var sites = Sites(h, w);
            // Built in place in its dtype (no double staging array per resolution and step).
            var cpu = Tensor.Zeros([sites.Batch, 1, h, w], dtype is DType.Float32 or DType.Float64 ? dtype : DType.Float64);
            if (cpu.DType == DType.Float32) { var v = cpu.HostSpan<float>(); foreach (int s in sites.Sites) v[s] = 1; }
            else { var v = cpu.HostSpan<double>(); foreach (int s in sites.Sites) v[s] = 1; }
            m = cpu.To(dtype).To(dev);
            _masks[(h, w, dtype, dev)] = m;
            return m;
        }
    }

    /// <summary>The neighbour map of a convolution geometry (cached). Throws unless the output map is a multiple of
    /// the mask grid.</summary>
    public NeighbourMap Neighbours(ConvGeometry g)
    {
        lock (_maps)
        {
            if (_maps.TryGetValue(g, out var m)) return m;
            if (g.OutH <= 0 || g.OutW <= 0)
                throw new ArgumentException($"Sparse conv: geometry {g} gives an empty output.");
            m = new NeighbourMap(g, Sites(g.InH, g.InW), Sites(g.OutH, g.OutW));
            _maps[g] = m;
            return m;
        }
    }

    /// <summary>The neighbour map of a convolution geometry for the kernels of <paramref name="device"/> (cached).</summary>
    public SparseConvMap ConvMap(ConvGeometry g, Device device) => Neighbours(g).On(device);

    public void Dispose()
    {
        if (_disposed) return;
        if (_current != this)
            throw new InvalidOperationException("SparseContext scopes must be disposed innermost first, on the thread that opened them.");
        _current = _outer;
        _disposed = true;
    }
}
