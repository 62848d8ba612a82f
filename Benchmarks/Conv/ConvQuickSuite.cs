using Sparkle.Benchmarks.Quick;
using Sparkle.Nn;
using Sparkle.Tensors;
using Sparkle.Tensors.Backend;
using Sparkle.Tensors.Cpu;
using Sparkle.Tensors.Cpu.Gemm;

namespace Sparkle.Benchmarks.Conv;

/// <summary>
/// `quick conv`: the convolutions of refbench's conv/convcl sections (same case names; batch 16, float32),
/// channels-first (`layout=nchw`) and channels-last (`layout=cl`: NCHW-shaped views with NHWC strides for input,
/// weight and output gradient, as refbench's convcl). Modes:
/// <list type="bullet">
/// <item>`fwd`: Functional.Conv2d without grad;</item>
/// <item>`fwdbwd`: Functional.Conv2d, then fresh gradients for input and weight (the stem: weight only) from the
/// IBackend calls Conv2d's backward makes — what refbench's fwdbwd times (torch.autograd.grad, no accumulation);</item>
/// <item>`fwdbwd_autograd`: Functional.Conv2d + Backward(gout) into the leaves' .Grad (the engine copies a leaf's first
/// gradient, in contiguous layout);</item>
/// <item>`fwd_kernel`, `bwd_input`, `bwd_weight`: the three kernels alone (IBackend calls into preallocated outputs).</item>
/// </list>
/// Filters: any key=value of a line, e.g. `case=dw96_k7s1p3_56 layout=cl mode=fwdbwd threads=1`.
/// <code>conv c64-64_k3s1p1_56 b16 fwdbwd layout=nchw threads=2 median_ms=... min_ms=... gflops=...</code>
/// </summary>
public sealed class ConvQuickSuite : IQuickSuite
{
    public string Name => "conv";
    private static int Reps = 7;

    /// <summary>Count: how many times the shape occurs in its network (set=r50), to weight the per-shape times.</summary>
    private sealed record Case(string Id, int Cin, int Cout, int K, int S, int P, int H, int G, bool InputGrad, int Count = 1);

    private static readonly Case[] Cases =
    [
        new("c64-64_k3s1p1_56", 64, 64, 3, 1, 1, 56, 1, true),
        new("c128-128_k3s1p1_28", 128, 128, 3, 1, 1, 28, 1, true),
        new("c256-256_k3s1p1_14", 256, 256, 3, 1, 1, 14, 1, true),
        new("stem_c3-64_k7s2p3_224", 3, 64, 7, 2, 3, 224, 1, false),
        new("dw96_k7s1p3_56", 96, 96, 7, 1, 3, 56, 96, true),
    ];

    /// <summary>`set=spark` (use batch=32): the dense convolutions of the SparK R18 96 step's decoder and densify
    /// projections. A ConvTranspose2d(c, c, 4, 2, 1) from h to 2h is listed as the conv it is the transpose of
    /// (input 2h, k4 s2 p1): its fwdbwd does the same three passes.</summary>
    private static readonly Case[] SparkCases =
    [
        .. new[] { 768, 384, 192, 96, 48 }.SelectMany((c, i) =>
        {
            int h = 6 << i;
            return new Case[]
            {
                new($"up{c}_k4s2p1_{h}", c, c, 4, 2, 1, h, 1, true),
                new($"c{c}-{c}_k3s1p1_{h}", c, c, 3, 1, 1, h, 1, true),
                new($"c{c}-{c / 2}_k3s1p1_{h}", c, c / 2, 3, 1, 1, h, 1, true),
            };
        }),
        new("proj512-768_k3s1p1_3", 512, 768, 3, 1, 1, 3, 1, true),
        new("proj256-384_k3s1p1_6", 256, 384, 3, 1, 1, 6, 1, true),
        new("proj128-192_k3s1p1_12", 128, 192, 3, 1, 1, 12, 1, true),
        new("proj64-96_k3s1p1_24", 64, 96, 3, 1, 1, 24, 1, true),
    ];

    /// <summary>`set=r50` (use batch=8): every distinct convolution of the dense ResNet-50 224 step (`quick nets`,
    /// timm v1.5: stride on the 3x3), with how often it occurs; the suite prints the count-weighted sum per mode and
    /// layout so the step's conv time can be split by shape and pass.</summary>
    private static readonly Case[] R50Cases =
    [
        new("stem_c3-64_k7s2p3_224", 3, 64, 7, 2, 3, 224, 1, false),
        new("c64-64_k1_56", 64, 64, 1, 1, 0, 56, 1, true),
        new("c64-64_k3s1p1_56", 64, 64, 3, 1, 1, 56, 1, true, 3),
        new("c64-256_k1_56", 64, 256, 1, 1, 0, 56, 1, true, 4),
        new("c256-64_k1_56", 256, 64, 1, 1, 0, 56, 1, true, 2),
        new("c256-128_k1_56", 256, 128, 1, 1, 0, 56, 1, true),
        new("c128-128_k3s2p1_56", 128, 128, 3, 2, 1, 56, 1, true),
        new("c256-512_k1s2_56", 256, 512, 1, 2, 0, 56, 1, true),
        new("c128-512_k1_28", 128, 512, 1, 1, 0, 28, 1, true, 4),
        new("c512-128_k1_28", 512, 128, 1, 1, 0, 28, 1, true, 3),
        new("c128-128_k3s1p1_28", 128, 128, 3, 1, 1, 28, 1, true, 3),
        new("c512-256_k1_28", 512, 256, 1, 1, 0, 28, 1, true),
        new("c256-256_k3s2p1_28", 256, 256, 3, 2, 1, 28, 1, true),
        new("c512-1024_k1s2_28", 512, 1024, 1, 2, 0, 28, 1, true),
        new("c256-1024_k1_14", 256, 1024, 1, 1, 0, 14, 1, true, 6),
        new("c1024-256_k1_14", 1024, 256, 1, 1, 0, 14, 1, true, 5),
        new("c256-256_k3s1p1_14", 256, 256, 3, 1, 1, 14, 1, true, 5),
        new("c1024-512_k1_14", 1024, 512, 1, 1, 0, 14, 1, true),
        new("c512-512_k3s2p1_14", 512, 512, 3, 2, 1, 14, 1, true),
        new("c1024-2048_k1s2_14", 1024, 2048, 1, 2, 0, 14, 1, true),
        new("c512-2048_k1_7", 512, 2048, 1, 1, 0, 7, 1, true, 3),
        new("c2048-512_k1_7", 2048, 512, 1, 1, 0, 7, 1, true, 2),
        new("c512-512_k3s1p1_7", 512, 512, 3, 1, 1, 7, 1, true, 2),
    ];

    private static readonly Dictionary<string, double> WeightedMs = [];

    public void Run(string[] args)
    {
        var filters = args.Select(a => a.Split('=', 2)).Where(p => p.Length == 2).ToDictionary(p => p[0], p => p[1]);
        int[] threadCounts = filters.TryGetValue("threads", out var t) ? [int.Parse(t)] : [2];
        int batch = filters.TryGetValue("batch", out var b) ? int.Parse(b) : 16;
        Reps = filters.TryGetValue("reps", out var r) ? int.Parse(r) : 7;
        // algo=im2col: the packed-GEMM path (no direct kernels) instead of the slab/depthwise kernels, for comparison.
        // algo=batched / algo=slab: force the batched im2col+GEMM path on / off (default: ConvPlan's rule).
        // winograd=1 / winograd=0: force Winograd F(2x2, 3x3) on / off where it applies (default: the rule).
        // pointwise=0: 1x1 convs on the path they took before PointwiseConv (the baseline for comparisons).
        // The choice is a CpuKernelOptions value; registered as the CPU backend for the suite, every tensor it makes runs with it.
        filters.TryGetValue("algo", out var algo);
        var options = new CpuKernelOptions
        {
            ConvDirect = algo != "im2col",
            ConvBatched = algo switch { "batched" => true, "slab" or "im2col" => false, _ => null },
            ConvPointwise = filters.TryGetValue("pointwise", out var pw) ? pw == "1" : null,
            ConvWinograd = filters.TryGetValue("winograd", out var wg) ? wg == "1" : null,
        };
        Backends.Register(CpuBackend.WithOptions(options));
        filters.TryGetValue("set", out var set);
        var cases = set switch { "spark" => SparkCases, "r50" => R50Cases, _ => Cases };
        WeightedMs.Clear();
        Console.WriteLine($"# conv kernel={GemmKernels.Best} cores={Environment.ProcessorCount} batch={batch} float32; "
            + "fwdbwd = Conv2d + Backward (grads for input and weight; stem: weight only)");
        int saved = IntraOpPool.NumThreads;
        try
        {
            foreach (int threads in threadCounts)
                foreach (var c in cases)
                    foreach (var layout in new[] { "nchw", "cl" })
                        foreach (var mode in new[] { "fwd", "fwdbwd", "fwdbwd_autograd", "fwd_kernel", "bwd_input", "bwd_weight" })
                        {
                            if (Skip(filters, ("case", c.Id), ("layout", layout), ("mode", mode), ("reps", Reps.ToString()), ("batch", batch.ToString()))) continue;
                            if (mode == "bwd_input" && !c.InputGrad) continue;
                            IntraOpPool.NumThreads = threads;
                            RunCase(c, batch, layout == "cl", mode, threads);
                        }
        }
        finally
        {
            IntraOpPool.NumThreads = saved;
            Backends.Register(CpuBackend.Instance);
        }
        foreach (var (key, ms) in WeightedMs)
            Console.WriteLine($"conv total {key} count-weighted median_ms={ms:F1}");
    }

    private static void RunCase(Case c, int batch, bool cl, string mode, int threads)
    {
        var gen = new Generator(1);
        var x = Tensor.Randn([batch, c.Cin, c.H, c.H], gen);
        var w = Tensor.Randn([c.Cout, c.Cin / c.G, c.K, c.K], gen) * 0.05;
        int ho = (c.H + 2 * c.P - c.K) / c.S + 1;
        var gout = Tensor.Randn([batch, c.Cout, ho, ho], gen);
        if (cl) { x = ChannelsLast(x); w = ChannelsLast(w); gout = ChannelsLast(gout); }
        var p = new Conv2dParams(c.S, c.S, c.P, c.P, 1, 1, c.G);
        double fwdGflop = 2.0 * batch * c.Cout * ho * ho * (c.Cin / c.G) * c.K * c.K / 1e9;
        Action action;
        double gflop = fwdGflop;
        switch (mode)
        {
            case "fwd":
                action = () => Functional.Conv2d(x, w, null, c.S, c.P, 1, c.G);
                break;
            case "fwdbwd":
                // What refbench's fwdbwd computes (torch.autograd.grad): the output, then fresh input and weight
                // gradients, through the same IBackend calls Conv2d's backward makes.
                gflop = fwdGflop * (c.InputGrad ? 3 : 2);
                action = () =>
                {
                    var y = Functional.Conv2d(x, w, null, c.S, c.P, 1, c.G);
                    if (c.InputGrad)
                    {
                        var dx = EmptyLike(x, cl);
                        dx.Backend.Conv2dBackwardInput(gout, w, dx, p);
                    }
                    var dw = Tensor.Empty(w.ShapeArray());
                    dw.Backend.Conv2dBackwardWeight(gout, x, dw, p);
                };
                break;
            case "fwdbwd_autograd":
                x.RequiresGrad = c.InputGrad;
                w.RequiresGrad = true;
                gflop = fwdGflop * (c.InputGrad ? 3 : 2);
                action = () =>
                {
                    x.Grad = null; w.Grad = null;
                    Functional.Conv2d(x, w, null, c.S, c.P, 1, c.G).Backward(gout);
                };
                break;
            case "fwd_kernel":
            {
                var y = cl ? ChannelsLast(Tensor.Zeros(gout.ShapeArray())) : Tensor.Zeros(gout.ShapeArray());
                action = () => y.Backend.Conv2dForward(x, w, null, y, p);
                break;
            }
            case "bwd_input":
            {
                var dx = cl ? ChannelsLast(Tensor.Zeros(x.ShapeArray())) : Tensor.Zeros(x.ShapeArray());
                action = () => dx.Backend.Conv2dBackwardInput(gout, w, dx, p);
                break;
            }
            default:
            {
                var dw = Tensor.Zeros(w.ShapeArray());
                action = () => dw.Backend.Conv2dBackwardWeight(gout, x, dw, p);
                break;
            }
        }
        // Warm-up that lets tiered JIT reach optimised code (see AddQuickSuite.Measure), then 7 samples.
        for (int i = 0; i < 3; i++) action();
        Thread.Sleep(200);
        var proc = System.Diagnostics.Process.GetCurrentProcess();
        var cpu = new List<double>();
        var (median, min) = QuickRunner.Time(() =>
        {
            proc.Refresh();
            var c0 = proc.TotalProcessorTime;
            action();
            proc.Refresh();
            cpu.Add((proc.TotalProcessorTime - c0).TotalMilliseconds);
        }, reps: Reps, warmup: 2);
        cpu.RemoveRange(0, 2); // the warm-up calls
        cpu.Sort();
        string key = $"{mode} layout={(cl ? "cl" : "nchw")} threads={threads}";
        WeightedMs[key] = WeightedMs.GetValueOrDefault(key) + median * c.Count;
        // cpu_ms: process CPU time per call (all threads), a load-independent measure of the work done.
        Console.WriteLine($"conv {c.Id} b{batch} {mode} layout={(cl ? "cl" : "nchw")} threads={threads} median_ms={median:F2} min_ms={min:F2} "
            + $"gflops={gflop / (median / 1e3):F1} cpu_ms={cpu[cpu.Count / 2]:F1} cpu_min_ms={cpu[0]:F1}");
    }

    /// <summary>An unzeroed tensor of t's shape, contiguous or with NHWC strides.</summary>
    private static Tensor EmptyLike(Tensor t, bool cl)
        => cl ? Tensor.Empty([t.Size(0), t.Size(2), t.Size(3), t.Size(1)]).Permute(0, 3, 1, 2) : Tensor.Empty(t.ShapeArray());

    /// <summary>refbench's CL(): an NCHW-shaped view with NHWC strides.</summary>
    private static Tensor ChannelsLast(Tensor t) => t.Permute(0, 2, 3, 1).Contiguous().Permute(0, 3, 1, 2);

    private static bool Skip(Dictionary<string, string> filters, params (string Key, string Value)[] line)
    {
        foreach (var (key, value) in line)
            if (filters.TryGetValue(key, out var want) && want != value) return true;
        return false;
    }
}
