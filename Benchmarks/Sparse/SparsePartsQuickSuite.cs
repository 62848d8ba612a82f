using Sparkle.Benchmarks.Quick;
using Sparkle.Nn;
using Sparkle.Sparse;
using Sparkle.Tensors.Cpu.Sparse;
using Sparkle.Tensors;

namespace Sparkle.Benchmarks.Sparse;

/// <summary>`quick sparse-parts`: where one sparse conv layer spends its time (gather, GEMM, scatter, whole forward,
/// forward+backward) next to the dense conv, for a 1x1 (cin→cout), a 3x3 and a depthwise 7x7 layer.
/// Filters: k=1|3|7, cin=N, cout=N, batch=N.</summary>
public sealed class SparsePartsQuickSuite : IQuickSuite
{
    public string Name => "sparse-parts";

    public void Run(string[] args)
    {
        var opts = args.Select(a => a.Split('=', 2)).Where(p => p.Length == 2).ToDictionary(p => p[0], p => p[1]);
        int batch = opts.TryGetValue("batch", out var bs) ? int.Parse(bs) : 4;
        int k = opts.TryGetValue("k", out var ks) ? int.Parse(ks) : 1;
        int cin = opts.TryGetValue("cin", out var ci) ? int.Parse(ci) : (k == 1 ? 256 : k == 7 ? 96 : 64);
        int cout = opts.TryGetValue("cout", out var co) ? int.Parse(co) : (k == 7 ? cin : 64);
        int groups = k == 7 ? cin : 1;
        var gen = new Generator(1);
        var mask = ActiveMask.Random(batch, 7, 0.6, new Random(1));
        var w = Tensor.Randn([cout, cin / groups, k, k], gen).RequireGrad();
        Tensor x;
        using (SparseContext.Begin(mask)) x = SparseOps.ApplyMask(Tensor.Randn([batch, cin, 56, 56], gen));
        int p = k / 2;
        using var ctx = SparseContext.Begin(mask);
        var nmap = ctx.Neighbours(new ConvGeometry(k, k, 1, 1, p, p, 1, 1, 56, 56));
        var map = nmap.On(Device.Cpu);
        int[]? mapRows = map.IsIdentity ? null : map.Rows.ToArray<int>();
        var rows = new float[(map.In.Count + 1) * cin];
        var yr = new float[map.Out.Count * cout];
        var packed = SparseConvKernels.PackForward<float>(w.ToArray<float>(), cout, cin / groups, k * k, groups);
        void Line(string what, (double MedianMs, double MinMs) t) => Console.WriteLine($"sparse-parts k={k} cin={cin} cout={cout} {what}_ms={t.MedianMs:F2}");
        Line("gather_nchw", QuickRunner.Time(() => RowIO.Gather(x, map.In, rows)));
        var xcl = x.Permute(0, 2, 3, 1).Contiguous().Permute(0, 3, 1, 2);
        Line("gather_cl", QuickRunner.Time(() => RowIO.Gather(xcl, map.In, rows)));
        if (groups == 1)
        {
            Line("gemm", QuickRunner.Time(() => SparseConvKernels.GatherGemm(rows, cin, mapRows, k * k, 1, map.Out.Count, packed, cout, yr)));
            if (!map.IsIdentity)
            {
                var wArr = w.ToArray<float>();
                var ip = ImplicitGemm.Pack<float>(wArr, k * k, cin, cout, (t, c, o) => (o * cin + c) * k * k + t);
                Line("implicit_gemm", QuickRunner.Time(() => ImplicitGemm.Run(rows, map.In.Count, cin, mapRows!, k * k, map.Out.Count, ip, cout, yr, cout, null)));
            }
        }
        Line("scatter_nchw", QuickRunner.Time(() => RowIO.Scatter(yr, map.Out, cout, false)));
        var runs = PlaneRuns.Of(map.In, 8);
        Line("scatter_runs", QuickRunner.Time(() => RowIO.ScatterNchw(yr, runs, cout, DType.Float32)));
        Line("empty_touch", QuickRunner.Time(() => Tensor.Empty([batch, cout, 56, 56]).Fill_(0)));
        Line("zeros_nchw", QuickRunner.Time(() => Tensor.Zeros([batch, cout, 56, 56])));
        if (k == 1)
        {
            int nn = map.In.Count;
            var xt = new float[cin * nn];
            var yt = new float[cout * nn];
            var wa1 = w.ToArray<float>();
            Line("cm_gather_runs", QuickRunner.Time(() => RowIO.GatherChannelMajor(x, runs, nn, xt)));
            Line("cm_gather_sites", QuickRunner.Time(() => RowIO.GatherChannelMajor(x, map.In, xt)));
            Line("cm_gemm", QuickRunner.Time(() => Sparkle.Tensors.Cpu.Gemm.Blas.Gemm(cout, nn, cin, new Sparkle.Tensors.Cpu.Gemm.StridedMatrix<float>(wa1, 0, cin, 1),
                new Sparkle.Tensors.Cpu.Gemm.StridedMatrix<float>(xt, 0, nn, 1), yt, 0, nn, accumulate: false)));
            Line("cm_scatter_runs", QuickRunner.Time(() => RowIO.ScatterChannelMajor(yt, runs, nn, cout, DType.Float32)));
            Line("cm_scatter_sites", QuickRunner.Time(() => RowIO.ScatterChannelMajor(yt, map.In, cout)));
        }
        if (k == 7)
        {
            var g7 = new DepthwisePlanes.Geo(7, 7, 1, 1, 3, 3);
            var wa = w.ToArray<float>();
            var xa = x.Contiguous().ToArray<float>();
            var ya = new float[xa.Length];
            var dwa = new float[wa.Length];
            Line("plane_fwd", QuickRunner.Time(() => DepthwisePlanes.Forward(xa, 0, cin * 3136, 3136, 56, runs, cin, wa, 0, g7, false, null, ya)));
            Line("plane_bwd_wgrad", QuickRunner.Time(() => DepthwisePlanes.Backward(xa, 0, cin * 3136, 3136, 56, xa, 0, cin * 3136, 3136, 56, runs, cin, wa, 0, g7, null, dwa, 0)));
            Line("plane_bwd_both", QuickRunner.Time(() => DepthwisePlanes.Backward(xa, 0, cin * 3136, 3136, 56, xa, 0, cin * 3136, 3136, 56, runs, cin, wa, 0, g7, ya, dwa, 0)));
            var ones = Tensor.Ones([1]).Expand(batch, cin, 56, 56);
            Line("expand_contiguous", QuickRunner.Time(() => ones.Contiguous()));
        }
        Line("map_build", QuickRunner.Time(() => { using var c2 = SparseContext.Begin(mask); _ = c2.Neighbours(nmap.Geometry).Rows; }));
        using (Sparkle.Autograd.GradMode.NoGrad())
        {
            Line("sparse_fwd", QuickRunner.Time(() => SparseOps.Conv2d(x, w, null, [1], [p], [1], groups)));
            Line("dense_fwd", QuickRunner.Time(() => Functional.Conv2d(x, w, null, 1, p, 1, groups)));
        }
        Line("sparse_fwdbwd", QuickRunner.Time(() => { SparseOps.Conv2d(x, w, null, [1], [p], [1], groups).Sum().Backward(); w.Grad = null; }));
        Line("dense_fwdbwd", QuickRunner.Time(() => { MaskedDense.Conv2dOfficial(x, w, null, [1], [p], [1], groups).Sum().Backward(); w.Grad = null; }));
    }
}
