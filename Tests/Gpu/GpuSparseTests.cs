using Sparkle.Gpu;
using Sparkle.Nn;
using Sparkle.Tensors;
using Sparkle.Tensors.Backend;
using Xunit;

namespace Sparkle.Tests.Gpu;

/// <summary>
/// The ILGPU backend's sparse kernels (IlgpuBackend.Sparse.cs) on the CPU simulator, against two independent float64
/// references: naive host loops over the submanifold definition, and the masked-dense formulation conv2d(x·m_in)·m_out
/// with the CPU's Functional.Conv2d and its autograd gradients. Sites and neighbour maps are built here with naive loops
/// (ascending sites, map = the row each tap reads or −1, inverse = its transpose). Every geometry of the SparK encoders
/// (3x3 s1/s2, 1x1 identity and s2, 7x7 s2 stem, depthwise 7x7, groups 2) runs through both kernel paths (one thread per
/// output, shared-memory tiled), which must agree bit for bit, plus the defaults; batch 3 with a fully masked image. The
/// launches per call are asserted (forward 3, backward 5 with the forward's kept rows, 6 without).
/// </summary>
[Collection(IlgpuCollection.Name)]
public class GpuSparseTests(IlgpuFixture gpu)
{
    private IlgpuBackend B => gpu.Backend;

    /// <summary>Patch-grid sites of one resolution: ascending b·H·W + y·W + x of the active sites and the row of each site.</summary>
    private sealed record HostSites(int N, int H, int W, int F, bool[] Bits, int[] Sites, int[] RowOf)
    {
        public static HostSites Of(bool[] bits, int n, int f, int h, int w)
        {
            var rowOf = new int[n * h * w];
            var sites = new List<int>();
            for (int b = 0, i = 0; b < n; b++)
                for (int y = 0; y < h; y++)
                    for (int x = 0; x < w; x++, i++)
                    {
                        bool on = bits[b * f * f + y / (h / f) * f + x / (w / f)];
                        rowOf[i] = on ? sites.Count : -1;
                        if (on) sites.Add(i);
                    }
            return new(n, h, w, f, bits, [.. sites], rowOf);
        }

        public SparseSites On(Device dev) =>
            new(N, H, W, Sites.Length, Tensor.FromArray(Sites).To(dev), Tensor.FromArray(RowOf).To(dev), F, F, Bits);

        public bool Active(int b, int y, int x) => RowOf[(b * H + y) * W + x] >= 0;
    }

    private sealed record Case(string Name, int C, int O, int K, int S, int P, int G)
    {
        public int Out(int h) => (h + 2 * P - K) / S + 1;
        public override string ToString() => Name;
    }

    private static readonly Case[] Cases =
    [
        new("3x3 s1", 8, 16, 3, 1, 1, 1),
        new("3x3 s2", 8, 16, 3, 2, 1, 1),
        new("1x1 identity", 16, 8, 1, 1, 0, 1),
        new("1x1 s2", 8, 16, 1, 2, 0, 1),
        new("7x7 s2 stem", 3, 8, 7, 2, 3, 1),
        new("depthwise 7x7", 8, 8, 7, 1, 3, 8),
        new("groups 2", 8, 16, 3, 1, 1, 2),
    ];

    public static TheoryData<string> CaseNames => [.. Cases.Select(c => c.Name)];

    private const int N = 3, H = 8, F = 4;

    /// <summary>Image 0 and 2 random (at least one active patch each), image 1 fully masked.</summary>
    private static bool[] Mask(Random rng)
    {
        var bits = new bool[N * F * F];
        for (int b = 0; b < N; b += 2)
        {
            for (int i = 0; i < F * F; i++) bits[b * F * F + i] = rng.NextDouble() < 0.55;
            bits[b * F * F + rng.Next(F * F)] = true;
        }
        return bits;
    }

    private static SparseConvMap Map(Case k, HostSites i, HostSites o, Device dev)
    {
        int taps = k.K * k.K;
        var rows = new int[o.Sites.Length * taps];
        for (int r = 0; r < o.Sites.Length; r++)
        {
            int s = o.Sites[r], b = s / (o.H * o.W), oy = s / o.W % o.H, ox = s % o.W;
            for (int ky = 0, t = 0; ky < k.K; ky++)
                for (int kx = 0; kx < k.K; kx++, t++)
                {
                    int iy = oy * k.S - k.P + ky, ix = ox * k.S - k.P + kx;
                    rows[r * taps + t] = iy >= 0 && iy < i.H && ix >= 0 && ix < i.W ? i.RowOf[(b * i.H + iy) * i.W + ix] : -1;
                }
        }
        var inv = Enumerable.Repeat(-1, i.Sites.Length * taps).ToArray();
        for (int r = 0; r < o.Sites.Length; r++)
            for (int t = 0; t < taps; t++)
                if (rows[r * taps + t] >= 0) inv[rows[r * taps + t] * taps + t] = r;
        return new SparseConvMap(k.K, k.K, k.S, k.S, k.P, k.P, 1, 1, i.On(dev), o.On(dev),
            () => Tensor.FromArray(rows).To(dev), () => Tensor.FromArray(inv).To(dev));
    }

    /// <summary>Values in [-2, 2], rounded to float32 when the test runs in float32 (so the float64 references see the
    /// exact inputs).</summary>
    private static double[] Values(Random rng, int n, DType dt) =>
        [.. Enumerable.Range(0, n).Select(_ => { double v = rng.NextDouble() * 4 - 2; return dt == DType.Float32 ? (float)v : v; })];

    /// <summary>A device tensor of logical shape (n, c, h, w) holding <paramref name="nchw"/>, NCHW or channels-last.</summary>
    private Tensor Dense(double[] nchw, int n, int c, int h, int w, DType dt, bool channelsLast)
    {
        if (!channelsLast) return Host(nchw, [n, c, h, w], dt).To(gpu.Device);
        var nhwc = new double[nchw.Length];
        for (int b = 0; b < n; b++)
            for (int ch = 0; ch < c; ch++)
                for (int y = 0; y < h; y++)
                    for (int x = 0; x < w; x++)
                        nhwc[((b * h + y) * w + x) * c + ch] = nchw[((b * c + ch) * h + y) * w + x];
        return Host(nhwc, [n, h, w, c], dt).To(gpu.Device).Permute(0, 3, 1, 2);
    }

    private static Tensor Host(double[] v, int[] shape, DType dt) => dt switch
    {
        DType.Float32 => Tensor.FromArray(v.Select(x => (float)x).ToArray(), shape),
        DType.Int32 => Tensor.FromArray(v.Select(x => (int)x).ToArray(), shape),
        _ => Tensor.FromArray(v, shape),
    };

    /// <summary>max |a − e| ≤ tol · max |e| (normwise relative).</summary>
    private static void Near(double[] expected, Tensor actual, double tol, string what)
    {
        var a = actual.ToDoubleArray();
        Assert.True(a.Length == expected.Length, $"{what}: {a.Length} elements, expected {expected.Length}");
        double err = 0, scale = 0;
        for (int i = 0; i < a.Length; i++) { err = Math.Max(err, Math.Abs(a[i] - expected[i])); scale = Math.Max(scale, Math.Abs(expected[i])); }
        Assert.True(err <= tol * Math.Max(scale, 1e-30), $"{what}: max error {err:G3} vs max |expected| {scale:G3} (tolerance {tol:G2} relative)");
    }

    /// <summary>The submanifold definition with host loops in float64: y at active output sites reads active inputs only;
    /// dx, dW, db for an upstream gradient v (read at active output sites only).</summary>
    private static (double[] Y, double[] Dx, double[] Dw, double[] Db) Naive(Case k, HostSites si, HostSites so, double[] x, double[] w, double[]? bias, double[] v)
    {
        int c = k.C, o = k.O, cg = c / k.G, og = o / k.G, oh = so.H, ow = so.W;
        var y = new double[N * o * oh * ow];
        var dx = new double[x.Length];
        var dw = new double[w.Length];
        var db = new double[o];
        for (int b = 0; b < N; b++)
            for (int oc = 0; oc < o; oc++)
                for (int oy = 0; oy < oh; oy++)
                    for (int ox = 0; ox < ow; ox++)
                    {
                        if (!so.Active(b, oy, ox)) continue;
                        int yi = ((b * o + oc) * oh + oy) * ow + ox, g = oc / og;
                        double acc = bias?[oc] ?? 0, up = v[yi];
                        db[oc] += up;
                        for (int cl = 0; cl < cg; cl++)
                            for (int ky = 0; ky < k.K; ky++)
                                for (int kx = 0; kx < k.K; kx++)
                                {
                                    int iy = oy * k.S - k.P + ky, ix = ox * k.S - k.P + kx;
                                    if (iy < 0 || iy >= H || ix < 0 || ix >= H || !si.Active(b, iy, ix)) continue;
                                    int xi = ((b * c + g * cg + cl) * H + iy) * H + ix, wi = ((oc * cg + cl) * k.K + ky) * k.K + kx;
                                    acc += x[xi] * w[wi];
                                    dx[xi] += up * w[wi];
                                    dw[wi] += x[xi] * up;
                                }
                        y[yi] = acc;
                    }
        return (y, dx, dw, db);
    }

    /// <summary>conv2d(x·m_in, w, b)·m_out on the CPU backend in float64, and its autograd gradients for upstream v.</summary>
    private static (double[] Y, double[] Dx, double[] Dw, double[]? Db) MaskedDense(Case k, HostSites si, HostSites so, double[] x, double[] w, double[]? bias, double[] v)
    {
        var xt = Tensor.FromArray(x, [N, k.C, H, H]).RequireGrad();
        var wt = Tensor.FromArray(w, [k.O, k.C / k.G, k.K, k.K]).RequireGrad();
        var bt = bias is null ? null : Tensor.FromArray(bias, [k.O]).RequireGrad();
        var mIn = Tensor.FromArray(si.RowOf.Select(r => r >= 0 ? 1.0 : 0.0).ToArray(), [N, 1, H, H]);
        var mOut = Tensor.FromArray(so.RowOf.Select(r => r >= 0 ? 1.0 : 0.0).ToArray(), [N, 1, so.H, so.W]);
        var y = Functional.Conv2d(xt * mIn, wt, bt, k.S, k.P, 1, k.G) * mOut;
        (y * Tensor.FromArray(v, y.ShapeArray())).Sum().Backward();
        return (y.ToDoubleArray(), xt.Grad!.ToDoubleArray(), wt.Grad!.ToDoubleArray(), bt?.Grad!.ToDoubleArray());
    }

    private (int TiledMin, int Chunk)[] Configs => [(1, 7), (int.MaxValue, 7), (B.SparseTiledMinWidth, B.SparseWeightChunk)];

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void ConvForwardAndBackwardMatchBothReferences(string name)
    {
        var k = Cases.Single(c => c.Name == name);
        var rng = new Random(name.Length * 31 + k.K);
        var bits = Mask(rng);
        int oh = k.Out(H), taps = k.K * k.K;
        var si = HostSites.Of(bits, N, F, H, H);
        var so = HostSites.Of(bits, N, F, oh, oh);
        var map = Map(k, si, so, gpu.Device);
        var (tiledMin, chunk) = (B.SparseTiledMinWidth, B.SparseWeightChunk);
        try
        {
            // Per case one float64 and one float32 run in opposite layouts; across the cases each dtype meets both layouts,
            // and bias and no bias (the simulator is slow: every combination everywhere would take a minute).
            bool a = Array.IndexOf(Cases, k) % 2 == 0;
            foreach (var (dt, cl, hasBias) in new[] { (DType.Float64, a, a), (DType.Float32, !a, a) })
            {
                var x = Values(rng, N * k.C * H * H, dt);
                var w = Values(rng, k.O * (k.C / k.G) * taps, dt);
                var bias = hasBias ? Values(rng, k.O, dt) : null;
                var v = Values(rng, N * k.O * oh * oh, dt);
                var naive = Naive(k, si, so, x, w, bias, v);
                var dense = MaskedDense(k, si, so, x, w, bias, v);
                double tol = dt == DType.Float32 ? 1e-5 : 1e-12;
                var xd = Dense(x, N, k.C, H, H, dt, cl);
                var vd = Dense(v, N, k.O, oh, oh, dt, cl);
                var wd = Host(w, [k.O, k.C / k.G, k.K, k.K], dt).To(gpu.Device);
                var bd = bias is null ? null : Host(bias, [k.O], dt).To(gpu.Device);
                var results = new List<double[][]>();
                foreach (var (cfgMin, cfgChunk) in Configs)
                {
                    (B.SparseTiledMinWidth, B.SparseWeightChunk) = (cfgMin, cfgChunk);
                    bool keep = cfgMin != tiledMin || cfgChunk != chunk;        // the default configuration gives the input instead
                    string what = $"{name} {dt.Name()} cl={cl} bias={hasBias} tiledMin={cfgMin} chunk={cfgChunk} keep={keep}";
                    long reads = B.HostReads, launches = B.SparseLaunches;
                    var (y, kept) = B.SparseConv2dForward(xd, wd, bd, map, k.G, keep, SparseConvOptions.Default);
                    Assert.Equal(3, B.SparseLaunches - launches);
                    Assert.Equal(keep, kept is not null);
                    launches = B.SparseLaunches;
                    var (gx, gw, gb) = B.SparseConv2dBackward(vd, keep ? null : xd, kept, wd, map, k.G, true, true, hasBias, SparseConvOptions.Default);
                    Assert.Equal(keep ? 5 : 6, B.SparseLaunches - launches);
                    Assert.Equal(reads, B.HostReads);                             // no host read inside the kernels' calls
                    Assert.Equal(cl, y.Stride(1) == 1);
                    Assert.Equal(cl, gx!.Stride(1) == 1);
                    Assert.Equal(hasBias, gb is not null);
                    foreach (var (exp, label) in new[] { (naive, "naive"), (dense, "masked-dense") })
                    {
                        Near(exp.Y, y, tol, $"{what} output vs {label}");
                        Near(exp.Dx, gx, tol, $"{what} grad input vs {label}");
                        Near(exp.Dw, gw!, tol, $"{what} grad weight vs {label}");
                    }
                    if (hasBias)
                    {
                        Near(naive.Db, gb!, tol, $"{what} grad bias vs naive");
                        Near(dense.Db!, gb!, tol, $"{what} grad bias vs masked-dense");
                    }
                    results.Add([y.ToDoubleArray(), gx.ToDoubleArray(), gw!.ToDoubleArray(), gb?.ToDoubleArray() ?? []]);
                }
                // Tiled and one-thread kernels sum in the same order: bit-identical at the same chunking.
                for (int i = 0; i < 4; i++) Assert.Equal(results[0][i], results[1][i]);
            }
        }
        finally { (B.SparseTiledMinWidth, B.SparseWeightChunk) = (tiledMin, chunk); }
    }

    [Fact]
    public void GatherReadsActiveRowsFromAnyLayout()
    {
        var rng = new Random(5);
        var hs = HostSites.Of(Mask(rng), N, F, H, H);
        var sites = hs.On(gpu.Device);
        const int c = 5;
        foreach (var dt in new[] { DType.Float64, DType.Float32, DType.Int32 })
            for (int layout = 0; layout < 3; layout++)
            {
                var x = Values(rng, N * c * H * H, DType.Float32).Select(v => dt == DType.Int32 ? Math.Round(v * 10) : v).ToArray();
                Tensor xd = layout switch
                {
                    0 => Dense(x, N, c, H, H, dt, false),
                    1 => Dense(x, N, c, H, H, dt, true),
                    // A stepped slice: every other column of a (N, C, H, 2W) map.
                    _ => Widen(x, c, dt).To(gpu.Device).Slice(3, 1, 2 * H, 2),
                };
                var rows = Tensor.Empty([hs.Sites.Length, c], dt, gpu.Device);
                B.SparseGather(xd, sites, rows);
                var expected = new double[hs.Sites.Length * c];
                for (int r = 0; r < hs.Sites.Length; r++)
                {
                    int s = hs.Sites[r], b = s / (H * H), yx = s % (H * H);
                    for (int ch = 0; ch < c; ch++) expected[r * c + ch] = x[(b * c + ch) * H * H + yx];
                }
                Assert.Equal(expected, rows.ToDoubleArray());
            }
    }

    private static Tensor Widen(double[] x, int c, DType dt)
    {
        var wide = new double[x.Length * 2];
        for (int i = 0; i < x.Length; i++) wide[2 * i + 1] = x[i];
        return Host(wide, [N, c, H, 2 * H], dt);
    }

    [Fact]
    public void ScatterWritesRowsAndZerosInBothLayouts()
    {
        var rng = new Random(6);
        var hs = HostSites.Of(Mask(rng), N, F, H, H);
        var sites = hs.On(gpu.Device);
        const int c = 6;
        foreach (var dt in new[] { DType.Float64, DType.Float32, DType.Int32 })
            foreach (bool cl in new[] { false, true })
            {
                var rows = Values(rng, hs.Sites.Length * c, DType.Float32).Select(v => dt == DType.Int32 ? Math.Round(v * 10) : v).ToArray();
                var y = B.SparseScatter(Host(rows, [hs.Sites.Length, c], dt).To(gpu.Device), sites, cl);
                Assert.Equal([N, c, H, H], y.ShapeArray());
                Assert.Equal(cl ? new[] { H * H * c, 1, H * c, c } : [c * H * H, H * H, H, 1], y.StridesArray());
                var expected = new double[N * c * H * H];
                for (int b = 0; b < N; b++)
                    for (int ch = 0; ch < c; ch++)
                        for (int yx = 0; yx < H * H; yx++)
                        {
                            int r = hs.RowOf[b * H * H + yx];
                            expected[(b * c + ch) * H * H + yx] = r >= 0 ? rows[r * c + ch] : 0;
                        }
                Assert.Equal(expected, y.ToDoubleArray());
            }
    }

    [Fact]
    public void OnlyTheGradientsAskedForAreComputed()
    {
        var k = Cases[0];
        var rng = new Random(8);
        var bits = Mask(rng);
        var si = HostSites.Of(bits, N, F, H, H);
        var map = Map(k, si, si, gpu.Device);
        var (x, w, bias, v) = (Values(rng, N * k.C * H * H, DType.Float64), Values(rng, k.O * k.C * 9, DType.Float64), Values(rng, k.O, DType.Float64), Values(rng, N * k.O * H * H, DType.Float64));
        var naive = Naive(k, si, si, x, w, bias, v);
        var xd = Dense(x, N, k.C, H, H, DType.Float64, false);
        var wd = Host(w, [k.O, k.C, 3, 3], DType.Float64).To(gpu.Device);
        var vd = Dense(v, N, k.O, H, H, DType.Float64, false);
        var (gx, gw, gb) = B.SparseConv2dBackward(vd, null, null, wd, map, 1, false, false, true, SparseConvOptions.Default);
        Assert.Null(gx);
        Assert.Null(gw);
        Near(naive.Db, gb!, 1e-12, "bias only");
        (gx, gw, gb) = B.SparseConv2dBackward(vd, xd, null, wd, map, 1, false, true, false, SparseConvOptions.Default);
        Assert.Null(gx);
        Assert.Null(gb);
        Near(naive.Dw, gw!, 1e-12, "weight only");
    }

    [Fact]
    public void StridedWeightAndGradientViews()
    {
        var k = Cases[6];                                                     // groups 2, 3x3
        var rng = new Random(9);
        var si = HostSites.Of(Mask(rng), N, F, H, H);
        var map = Map(k, si, si, gpu.Device);
        int cg = k.C / k.G;
        var (x, w, bias, v) = (Values(rng, N * k.C * H * H, DType.Float64), Values(rng, k.O * cg * 9, DType.Float64), Values(rng, k.O, DType.Float64), Values(rng, N * k.O * H * H, DType.Float64));
        var naive = Naive(k, si, si, x, w, bias, v);
        // Every other column of wider tensors: the weight is copied to a contiguous temporary, dy is gathered as it is.
        var wideW = new double[w.Length * 2];
        for (int i = 0; i < w.Length; i++) wideW[2 * i] = w[i];
        var wd = Host(wideW, [k.O, cg, 3, 6], DType.Float64).To(gpu.Device).Slice(3, 0, 6, 2);
        var wideV = new double[v.Length * 2];
        for (int i = 0; i < v.Length; i++) wideV[2 * i + 1] = v[i];
        var vd = Host(wideV, [N, k.O, H, 2 * H], DType.Float64).To(gpu.Device).Slice(3, 1, 2 * H, 2);
        Assert.False(wd.IsContiguous);
        var (y, kept) = B.SparseConv2dForward(Dense(x, N, k.C, H, H, DType.Float64, false), wd, Host(bias, [k.O], DType.Float64).To(gpu.Device), map, k.G, true, SparseConvOptions.Default);
        var (gx, gw, gb) = B.SparseConv2dBackward(vd, null, kept, wd, map, k.G, true, true, true, SparseConvOptions.Default);
        Near(naive.Y, y, 1e-12, "output");
        Near(naive.Dx, gx!, 1e-12, "grad input");
        Near(naive.Dw, gw!, 1e-12, "grad weight");
        Near(naive.Db, gb!, 1e-12, "grad bias");
        Assert.True(gw!.IsContiguous);
    }

    [Fact]
    public void FullyMaskedBatchGivesExactZeros()
    {
        var k = Cases[0];
        var bits = new bool[N * F * F];
        var si = HostSites.Of(bits, N, F, H, H);
        var map = Map(k, si, si, gpu.Device);
        var rng = new Random(7);
        var xd = Dense(Values(rng, N * k.C * H * H, DType.Float32), N, k.C, H, H, DType.Float32, true);
        var wd = Host(Values(rng, k.O * k.C * 9, DType.Float32), [k.O, k.C, 3, 3], DType.Float32).To(gpu.Device);
        var bd = Host(Values(rng, k.O, DType.Float32), [k.O], DType.Float32).To(gpu.Device);
        var (y, kept) = B.SparseConv2dForward(xd, wd, bd, map, 1, true, SparseConvOptions.Default);
        var vd = Dense(Values(rng, N * k.O * H * H, DType.Float32), N, k.O, H, H, DType.Float32, true);
        var (gx, gw, gb) = B.SparseConv2dBackward(vd, null, kept, wd, map, 1, true, true, true, SparseConvOptions.Default);
        foreach (var t in new[] { y, gx!, gw!, gb! }) Assert.All(t.ToDoubleArray(), v => Assert.Equal(0.0, v));
    }
}
