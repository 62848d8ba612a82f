namespace Sparkle.Tensors.Backend;

/// <summary>
/// The active sites of one (B, H, W) resolution of a SparK mask, on one device: <see cref="Sites"/> lists
/// b·H·W + y·W + x of every active site in ascending order (row r of a rows matrix is site Sites[r]); <see cref="RowOf"/>
/// maps every site to its row or −1 when masked. Built by Sparse/ (ActiveSites) once per forward and resolution; kernels
/// of every backend read it. <see cref="PatchBits"/> is the patch mask it came from (host booleans b·fh·fw + i·fw + j,
/// fh = <see cref="GridH"/>): a backend may derive its own structures from it (<see cref="Derived{T}"/>).
/// </summary>
public sealed class SparseSites
{
    private readonly Dictionary<object, object> _derived = [];

    public SparseSites(int batch, int height, int width, int count, Tensor sites, Tensor rowOf, int gridH, int gridW, bool[] patchBits)
    {
        if (sites.DType != DType.Int32 || rowOf.DType != DType.Int32 || sites.NumElements != count || rowOf.NumElements != batch * height * width)
            throw new ArgumentException($"SparseSites: expected Int32 sites ({count}) and rowOf ({batch * height * width}), got {sites.DType.Name()} {ShapeUtil.Format(sites.Shape)} and {rowOf.DType.Name()} {ShapeUtil.Format(rowOf.Shape)}.");
        if (sites.Device != rowOf.Device) throw new ArgumentException($"SparseSites: sites on {sites.Device}, rowOf on {rowOf.Device}.");
        (Batch, Height, Width, Count, Sites, RowOf, GridH, GridW, PatchBits) = (batch, height, width, count, sites, rowOf, gridH, gridW, patchBits);
    }

    public int Batch { get; }
    public int Height { get; }
    public int Width { get; }
    /// <summary>Number of active sites (rows).</summary>
    public int Count { get; }
    /// <summary>Int32 (Count), ascending, on <see cref="Device"/>.</summary>
    public Tensor Sites { get; }
    /// <summary>Int32 (B·H·W): the row of each site, −1 when masked.</summary>
    public Tensor RowOf { get; }
    public Device Device => Sites.Device;
    /// <summary>The patch grid (fh, fw); H and W are integer multiples of it.</summary>
    public int GridH { get; }
    public int GridW { get; }
    /// <summary>Host patch mask, b·fh·fw + i·fw + j, true = active. Do not modify.</summary>
    public bool[] PatchBits { get; }

    /// <summary>A backend-specific structure derived from these sites (e.g. the CPU's plane runs), built once per key
    /// and kept as long as this object lives.</summary>
    public T Derived<T>(object key, Func<T> build) where T : class
    {
        lock (_derived)
        {
            if (_derived.TryGetValue(key, out var v)) return (T)v;
            var made = build();
            _derived[key] = made;
            return made;
        }
    }
}
