using Sparkle.Tensors.Backend;

namespace Sparkle.Tensors.Cpu.Sparse;

/// <summary>
/// The active sites of one (B, H, W) resolution as column runs per image row, and the vector chunks (VW columns
/// starting at multiples of VW) that hold an active column, grouped into blocks of at most 4 adjacent chunks: per
/// single row (weight gradients) and per group of 4 rows (the union, for the forward's 4-row register block).
/// Masks are patch-aligned, so rows within a patch row repeat the same lists; they are built once per resolution.
/// </summary>
internal sealed class PlaneRuns
{
    /// <summary>Rows per row group (the forward register block) and the most vectors in one block.</summary>
    public const int GroupRows = 4, MaxBlock = 3;

    public int Batch { get; }
    public int Height { get; }
    public int Width { get; }
    public int VW { get; }
    /// <summary>Image rows per mask row (H / f): rows y0 .. y0 + RowRepeat − 1 of a patch row have the same runs.</summary>
    public int RowRepeat { get; }
    /// <summary>Runs of image row (b, y) are [RunStart[b·H + y], RunStart[b·H + y + 1]) in X0/X1 ([x0, x1)).</summary>
    public int[] RunStart { get; }
    public int[] X0 { get; }
    public int[] X1 { get; }
    /// <summary>Row (active-site index, in site order) of the first active site of image row (b, y): SiteStart[b·H + y].</summary>
    public int[] SiteStart { get; }
    /// <summary>Chunk blocks of row (b, y): [RowBlockStart[b·H + y], ...+1) in BlockCol (first column) / BlockVecs.</summary>
    public int[] RowBlockStart { get; }
    /// <summary>Chunk blocks of row group (b, q) = rows 4q .. 4q + 3 (the union): [GroupBlockStart[b·Groups + q], ...+1).</summary>
    public int[] GroupBlockStart { get; }
    public int[] BlockCol { get; }
    public int[] BlockVecs { get; }
    public int Groups => (Height + GroupRows - 1) / GroupRows;
    /// <summary>Row width rounded up to whole vectors.</summary>
    public int PaddedWidth => (Width + VW - 1) / VW * VW;
    /// <summary>Active[(b·H + y)·W + x]: the site is active. The array of a zeroed Bool tensor (from the TensorPool
    /// inside <c>pool.Use()</c>: the largest array here, rebuilt every forward with the same length); held below.</summary>
    public bool[] Active { get; }
    private readonly Tensor _activeHolder;

    private object? _masks;

    /// <summary>(B·H) rows of <see cref="PaddedWidth"/> values: all bits set at active columns, 0 elsewhere (for
    /// AND-masking whole rows with vectors: exact zeros at masked sites whatever the values there, NaN included).</summary>
    public T[] RowMasks<T>() where T : unmanaged
    {
        lock (this)
        {
            if (_masks is T[] m) return m;
            int wc = PaddedWidth;
            var ones = System.Runtime.Intrinsics.Vector256.GetElement(System.Runtime.Intrinsics.Vector256<T>.AllBitsSet, 0);
            m = new T[Batch * Height * wc];
            for (int i = 0; i < Batch * Height; i++)
                for (int x = 0; x < Width; x++)
                    if (Active[i * Width + x]) m[i * wc + x] = ones;
            _masks = m;
            return m;
        }
    }

    /// <summary>The runs of a resolution's sites for <paramref name="vw"/>-lane vectors, cached on the sites object.</summary>
    public static PlaneRuns Of(SparseSites s, int vw) => s.Derived(("PlaneRuns", vw), () => new PlaneRuns(s, vw));

    private PlaneRuns(SparseSites s, int vw)
    {
        int h = s.Height, w = s.Width, fh = s.GridH, fw = s.GridW;
        int ry = h / fh, rx = w / fw;
        bool Bit(int b, int py, int px) => s.PatchBits[(b * fh + py) * fw + px];
        Batch = s.Batch; Height = h; Width = w; VW = vw; RowRepeat = ry;
        int nb = Batch, chunks = (w + vw - 1) / vw;
        var x0 = new List<int>(); var x1 = new List<int>();
        RunStart = new int[nb * h + 1];
        var active = new bool[nb * h * chunks];
        _activeHolder = Tensor.Zeros([nb * h * w], DType.Bool);
        Active = _activeHolder.Storage is CpuStorage<bool> st && st.Data.Length == nb * h * w ? st.Data
            : throw new InvalidOperationException("expected a cpu bool storage of exact length");
        for (int b = 0; b < nb; b++)
            for (int y = 0; y < h; y++)
            {
                RunStart[b * h + y] = x0.Count;
                int py = y / ry;
                for (int px = 0; px < fw;)
                {
                    if (!Bit(b, py, px)) { px++; continue; }
                    int e = px;
                    while (e < fw && Bit(b, py, e)) e++;
                    int a0 = px * rx, a1 = e * rx;
                    x0.Add(a0); x1.Add(a1);
                    Active.AsSpan((b * h + y) * w + a0, a1 - a0).Fill(true);
                    for (int q = a0 / vw; q <= (a1 - 1) / vw; q++) active[(b * h + y) * chunks + q] = true;
                    px = e;
                }
            }
        RunStart[nb * h] = x0.Count;
        SiteStart = new int[nb * h + 1];
        for (int i = 0; i < nb * h; i++)
        {
            int cnt = 0;
            for (int e = RunStart[i]; e < RunStart[i + 1]; e++) cnt += x1[e] - x0[e];
            SiteStart[i + 1] = SiteStart[i] + cnt;
        }
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
        int groups = Groups;
        GroupBlockStart = new int[nb * groups + 1];
        for (int b = 0; b < nb; b++)
            for (int p = 0; p < groups; p++)
            {
                GroupBlockStart[b * groups + p] = col.Count;
                int y0 = p * GroupRows, y1 = Math.Min(h, y0 + GroupRows);
                Blocks(q =>
                {
                    for (int y = y0; y < y1; y++) if (active[(b * h + y) * chunks + q]) return true;
                    return false;
                });
            }
        GroupBlockStart[nb * groups] = col.Count;
        BlockCol = [.. col]; BlockVecs = [.. vecs];
    }
}
