using System.Diagnostics;
using System.Globalization;
using Sparkle.Gpu;
using Sparkle.Gpu.Memory;
using Sparkle.Tensors;
using Sparkle.Tensors.Backend;

namespace Sparkle.GpuCheck;

/// <summary>
/// <c>conv [cuda|opencl|ilgpucpu] [full|small]</c>: every convolution configuration SparK pre-training runs — the ResNet-18
/// (96 px, batch 32), ResNet-50 (224 px, batch 64; one of each kind per stage) and ConvNeXt-T (224 px, batch 64) encoders
/// and the SparK LightDecoder with its densify projections (width 768) — forward, input gradient and weight gradient on the
/// device against the CPU backend's kernels, each with its device time (median of 3 after one warm-up run).
/// <para>Error: max |device − cpu| / max |cpu| over the compared elements. Bound 1e-4 with TF32 off (<c>SPARKLE_TF32=0</c>),
/// 5e-3 with TF32 on (the default), since TF32 rounds the GEMM inputs to 10 mantissa bits. Exit code 1 on any failure.</para>
/// <para>The device always runs the full batch (so its kernels see the real grids and index ranges), but a full-batch CPU
/// reference of the decoder alone would be hundreds of GMAC: the CPU computes only a subset of images, the first and the last
/// ones (where an indexing error shows first), about <see cref="CpuMacBudget"/> multiply-adds per pass. Forward and input
/// gradient are per-image, so the device's result is compared on those images; for the weight gradient the output gradient
/// is zeroed outside them on the device too (exact zeros add nothing), so the full-batch device reduction equals the
/// subset's CPU reduction.</para>
/// <c>small</c>: the same list at 1/16 of the channels, 1/8 of the spatial size and batch 4, for ILGPU's CPU simulator.
/// </summary>
internal static class ConvCheck
{
    private const double CpuMacBudget = 1e9;   // ~220 GMAC of CPU reference for the whole list (seconds on 16 cores)

    /// <summary>One convolution in conv2d terms: input (N, C, H, H) → output (N, O, OH, OH), weight (O, C/G, K, K). A
    /// transposed convolution (<see cref="Transpose"/>) is listed by its own input (N, O, OH, OH) and output (N, C, H, H):
    /// its forward is conv2d's input gradient and its input gradient conv2d's forward, so the same three kernels run.</summary>
    private sealed record Case(string Name, int N, int C, int H, int O, int K, int Stride, int Pad, int Groups, bool Bias,
        bool Transpose = false, bool ChannelsLast = false)
    {
        public int OH => Conv2dParams.OutputSize(H, K, Stride, Pad, 1);
        public double MacsPerImage => (double)O * OH * OH * (C / Groups) * K * K;
    }

    private static List<Case> Cases()
    {
        var l = new List<Case>();
        Case C(string name, int n, int c, int h, int o, int k, int s, int p, int g = 1, bool bias = false, bool cl = false) => new(name, n, c, h, o, k, s, p, g, bias, false, cl);

        // ResNet-18, 96 px, batch 32 (the 7x7/2 stem, as SparK and torch/spark_step.py use it): every distinct conv.
        l.Add(C("r18 stem 7x7/2", 32, 3, 96, 64, 7, 2, 3));
        l.Add(C("r18 s1 3x3", 32, 64, 24, 64, 3, 1, 1));
        int h = 24;
        foreach (var (cin, cout) in new[] { (64, 128), (128, 256), (256, 512) })
        {
            l.Add(C($"r18 {cout} 3x3/2", 32, cin, h, cout, 3, 2, 1));
            l.Add(C($"r18 {cout} 3x3", 32, cout, h / 2, cout, 3, 1, 1));
            l.Add(C($"r18 {cout} down 1x1/2", 32, cin, h, cout, 1, 2, 0));
            h /= 2;
        }
        // ResNet-50, 224 px, batch 64 (timm layout: the stride in the 3x3): per stage the 3x3 s1 and s2, the 1x1 reduce and
        // expand, the 1x1/2 downsample.
        l.Add(C("r50 stem 7x7/2", 64, 3, 224, 64, 7, 2, 3));
        h = 56;
        int inCh = 64;
        foreach (var planes in new[] { 64, 128, 256, 512 })
        {
            int outCh = planes * 4, s = planes == 64 ? 1 : 2, oh = h / s;
            l.Add(C($"r50 {planes} reduce 1x1", 64, inCh, h, planes, 1, 1, 0));
            if (s == 2) l.Add(C($"r50 {planes} 3x3/2", 64, planes, h, planes, 3, 2, 1));
            l.Add(C($"r50 {planes} 3x3", 64, planes, oh, planes, 3, 1, 1));
            l.Add(C($"r50 {planes} expand 1x1", 64, planes, oh, outCh, 1, 1, 0));
            l.Add(C($"r50 {planes} down 1x1/{s}", 64, inCh, h, outCh, 1, s, 0));
            l.Add(C($"r50 {planes} in-stage reduce 1x1", 64, outCh, oh, planes, 1, 1, 0));
            inCh = outCh;
            h = oh;
        }
        // ConvNeXt-T, 224 px, batch 64: 4x4/4 stem, the 7x7 depthwise conv of each stage (its input is a channels-last view:
        // the block permutes back from NHWC), the 2x2/2 downsamples; all with bias. The 1x1 MLPs are Linear layers (matmul).
        l.Add(C("cnx stem 4x4/4", 64, 3, 224, 96, 4, 4, 0, bias: true));
        int[] dims = [96, 192, 384, 768];
        for (int i = 0; i < 4; i++)
        {
            int hw = 56 >> i;
            l.Add(C($"cnx dw7x7 {dims[i]}", 64, dims[i], hw, dims[i], 7, 1, 3, g: dims[i], bias: true, cl: true));
            if (i < 3) l.Add(C($"cnx down 2x2/2 {dims[i + 1]}", 64, dims[i], hw, dims[i + 1], 2, 2, 0, bias: true));
        }
        // The SparK LightDecoder (width 768) at ResNet-18 96 px batch 32 (3x3 → 96x96) and at ResNet-50 224 px batch 64
        // (7x7 → 224x224): per UNetBlock ConvTranspose2d(c, c, 4, 2, 1, bias), Conv3x3(c→c), Conv3x3(c→c/2) (no bias, BN
        // follows); the densify projections (1x1 at the deepest map when its width is not 768, 3x3 with bias above) and the
        // final 1x1 projection to 3 channels.
        foreach (var (tag, n, f, enc) in new[] { ("r18", 32, 3, new[] { 512, 256, 128, 64 }), ("r50", 64, 7, new[] { 2048, 1024, 512, 256 }) })
        {
            for (int i = 0; i < 5; i++)
            {
                int c = 768 >> i, hw = f << i;
                if (i < 4)
                    l.Add(i == 0 ? C($"{tag} dec densify 1x1 {enc[0]}", n, enc[0], hw, 768, 1, 1, 0, bias: true)
                                 : C($"{tag} dec densify 3x3 {enc[i]}", n, enc[i], hw, c, 3, 1, 1, bias: true));
                l.Add(new Case($"{tag} dec up convT4/2 {c}", n, c, 2 * hw, c, 4, 2, 1, 1, true, Transpose: true));
                l.Add(C($"{tag} dec 3x3 {c}", n, c, 2 * hw, c, 3, 1, 1));
                l.Add(C($"{tag} dec 3x3 {c}->{c / 2}", n, c, 2 * hw, c / 2, 3, 1, 1));
            }
            l.Add(C($"{tag} dec proj 1x1 24->3", n, 24, 32 * f, 3, 1, 1, 0, bias: true));
        }
        return l;
    }

    /// <summary>The simulator's version of a case: 1/16 of the channels (3 stays 3, at least 2), 1/8 of the side, batch 4.</summary>
    private static Case Small(Case c)
    {
        static int Ch(int ch) => ch <= 3 ? ch : Math.Max(2, ch / 16);
        int hw = Math.Max(c.K + c.Stride, c.H / 8);
        hw -= hw % c.Stride;    // keep the output side exact for strided convs, as at full size
        int cc = Ch(c.C), oo = Ch(c.O);
        return c with { N = 4, C = cc, O = oo, H = hw, Groups = c.Groups == 1 ? 1 : cc };
    }

    public static int Run(string[] args)
    {
        var kind = Enum.Parse<DeviceKind>(args.Length > 0 ? args[0] : "cuda", ignoreCase: true);
        bool small = args.Length > 1 && args[1] == "small";
        // Small sizes use batch 4 and a budget scaled down with the work per image, so the subset path runs there too.
        double budget = small ? CpuMacBudget / 4096 : CpuMacBudget;
        if (args.Length > 1 && args[1] is not ("small" or "full")) throw new ArgumentException($"conv: size must be full or small, got '{args[1]}'.");
        var sw = Stopwatch.StartNew();
        using var gpu = IlgpuBackend.Create(kind, 0);
        var dev = gpu.Device;
        // TF32 is the backend's default on a capable CUDA device; SPARKLE_TF32=0 turns it off (docs/gpu.md, "Tensor
        // cores"). The bound follows the backend's actual setting, not the variable.
        bool tf32 = gpu.AllowTf32;
        double bound = tf32 ? 5e-3 : 1e-4;
        Console.WriteLine($"conv check on {dev}: {gpu.Accelerator.Name}; {(small ? "small" : "full")} sizes; TF32 {(tf32 ? "on" : "off")} " +
                          $"(SPARKLE_TF32={Environment.GetEnvironmentVariable("SPARKLE_TF32") ?? "unset"}) → bound {bound:0E+00}");
        int checks = 0, failures = 0;
        var cases = Cases();
        if (small) cases = [.. cases.Select(Small)];
        foreach (var c in cases)
        {
            try
            {
                using (GpuMemory.Scope())
                {
                    var (bad, n) = RunCase(gpu, c, bound, budget);
                    failures += bad;
                    checks += n;
                }
            }
            catch (Exception ex)
            {
                failures++;
                checks++;
                Console.WriteLine($"FAIL {c.Name}: {ex.GetType().Name}: {ex.Message}");
            }
        }
        Console.WriteLine($"conv: {checks} checks, {failures} failure(s), {cases.Count} configurations, {gpu.CompiledKernels} kernels compiled, total {sw.Elapsed.TotalSeconds:F1} s; {gpu.MemoryStats}");
        return failures == 0 ? 0 : 1;
    }

    private static (int Bad, int Checks) RunCase(IlgpuBackend gpu, Case c, double bound, double budget)
    {
        var dev = gpu.Device;
        var p = new Conv2dParams(c.Stride, c.Stride, c.Pad, c.Pad, 1, 1, c.Groups);
        int oh = c.OH;
        int[] aShape = [c.N, c.C, c.H, c.H], bShape = [c.N, c.O, oh, oh], wShape = [c.O, c.C / c.Groups, c.K, c.K];
        // Images the CPU computes: all when the budget allows, else the first half and the last half of an even count.
        int sub = (int)Math.Clamp(budget / c.MacsPerImage, 2, c.N);
        sub = sub >= c.N ? c.N : sub - sub % 2;
        int half = sub / 2;

        var g = new Generator((ulong)c.Name.GetHashCode(StringComparison.Ordinal) & 0xffff);
        // Inputs made on the device (fast at full size), the CPU's copies of the chosen images taken from them.
        Tensor Layout(Tensor t) => c.ChannelsLast ? t.Permute(0, 2, 3, 1).Contiguous().Permute(0, 3, 1, 2) : t;
        Tensor Empty(int[] shape, Device d) => c.ChannelsLast && shape.Length == 4 && shape[0] == c.N
            ? Tensor.Zeros([shape[0], shape[2], shape[3], shape[1]], device: d).Permute(0, 3, 1, 2) : Tensor.Zeros(shape, device: d);
        Tensor Pick(Tensor t) => sub == c.N ? t.To(Device.Cpu) : Tensor.Cat([t.Narrow(0, 0, half).To(Device.Cpu), t.Narrow(0, c.N - half, half).To(Device.Cpu)], 0);
        var aD = Layout(Tensor.Normal(aShape, 0, 1, g, device: dev));
        var bD = Layout(Tensor.Normal(bShape, 0, 1, g, device: dev));
        // Kaiming-like scale keeps outputs O(1) whatever the fan-in, so the relative error means the same everywhere.
        var wD = Tensor.Normal(wShape, 0, Math.Sqrt(2.0 / (c.C / c.Groups * c.K * c.K)), g, device: dev);
        var biasD = c.Bias ? Tensor.Normal([c.Transpose ? c.C : c.O], 0, 0.5, g, device: dev) : null;
        Tensor? selD = null;
        if (sub < c.N)
        {
            var sel = new float[c.N];
            for (int i = 0; i < c.N; i++) sel[i] = i < half || i >= c.N - half ? 1 : 0;
            selD = Tensor.FromArray(sel, [c.N, 1, 1, 1]).To(dev);
        }
        var bMaskedD = selD is null ? bD : Layout(bD * selD);
        var (a, b, w, bias, bMasked) = (Pick(aD), Pick(bD), wD.To(Device.Cpu), biasD?.To(Device.Cpu), Pick(bMaskedD));
        var cpu = a.Backend;
        int nSub = sub;

        string dims = c.Transpose
            ? $"{c.O}@{oh}->{c.C}@{c.H}"
            : $"{c.C}@{c.H}->{c.O}@{oh}{(c.Groups > 1 ? $" g{c.Groups}" : "")}";
        int bad = 0, checks = 0;
        void Pass(string pass, bool perImage, Func<Tensor> cpuOp, Func<Tensor> devOp)
        {
            checks++;
            long t0 = Stopwatch.GetTimestamp();
            var e = cpuOp();
            double cpuMs = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            var r = devOp();                       // warm-up: compiles the kernel the first time
            gpu.Synchronize();
            var times = new double[3];
            for (int i = 0; i < times.Length; i++)
            {
                GpuMemory.Release(r);
                t0 = Stopwatch.GetTimestamp();
                r = devOp();
                gpu.Synchronize();
                times[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            }
            Array.Sort(times);
            var actual = perImage ? Pick(r) : r.To(Device.Cpu);
            var (err, where) = RelError(e, actual);
            bool ok = err <= bound;
            if (!ok) bad++;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{(ok ? "PASS" : "FAIL")} {c.Name,-30} {dims,-22} b{c.N,-3} {pass,-12} rel {err:0.00E+00} (bound {bound:0E+00}){where}  device {times[1],8:F2} ms" +
                $"  [cpu {nSub}/{c.N} img {cpuMs:F0} ms]"));
        }

        Tensor CpuInto(int[] shape, Action<Tensor> op) { var t = Tensor.Zeros(shape); op(t); return t; }
        Tensor DevInto(int[] shape, Action<Tensor> op) { var t = Empty(shape, dev); op(t); return t; }
        int[] aSub = [nSub, .. aShape[1..]], bSub = [nSub, .. bShape[1..]];
        // Conv2d forward (a transposed conv's input gradient): a → b.
        Pass(c.Transpose ? "grad input" : "forward", true,
            () => CpuInto(bSub, t => cpu.Conv2dForward(a, w, c.Transpose ? null : bias, t, p)),
            () => DevInto(bShape, t => gpu.Conv2dForward(aD, wD, c.Transpose ? null : biasD, t, p)));
        // Conv2d input gradient (a transposed conv's forward, bias added as Functional.ConvTranspose2d does): b → a.
        Pass(c.Transpose ? "forward" : "grad input", true,
            () => CpuInto(aSub, t => { cpu.Conv2dBackwardInput(b, w, t, p); if (c.Transpose && bias is not null) t.Add_(bias.Reshape(1, c.C, 1, 1)); }),
            () => DevInto(aShape, t => { gpu.Conv2dBackwardInput(bD, wD, t, p); if (c.Transpose && biasD is not null) t.Add_(biasD.Reshape(1, c.C, 1, 1)); }));
        // Weight gradient: a transposed conv's is conv2d's with the roles of its input (b) and output gradient (a) swapped.
        Pass("grad weight", false,
            () => CpuInto(wShape, t => cpu.Conv2dBackwardWeight(bMasked, a, t, p)),
            () => { var t = Tensor.Zeros(wShape, device: dev); gpu.Conv2dBackwardWeight(bMaskedD, aD, t, p); return t; });
        if (c.Bias)
            Pass("grad bias", false,
                () => (c.Transpose ? a : bMasked).Sum(0, 2, 3),
                () => (c.Transpose ? (selD is null ? aD : aD * selD) : bMaskedD).Sum(0, 2, 3));
        GpuMemory.Release(aD, bD, wD, biasD, selD, bMaskedD);
        return (bad, checks);
    }

    /// <summary>max |a − e| / max |e|, and where the largest difference is when it is not tiny; NaN counts as infinite.</summary>
    private static (double Error, string Where) RelError(Tensor expected, Tensor actual)
    {
        if (!expected.Shape.SequenceEqual(actual.Shape)) return (double.PositiveInfinity, $" shape {ShapeUtil.Format(actual.Shape)} vs {ShapeUtil.Format(expected.Shape)}");
        var e = expected.Contiguous().ToArray<float>();
        var x = actual.Contiguous().ToArray<float>();
        double diff = 0, scale = 1e-30;
        int at = -1;
        for (int i = 0; i < e.Length; i++)
        {
            double d = Math.Abs((double)x[i] - e[i]);
            if (double.IsNaN(d)) d = double.PositiveInfinity;
            if (d > diff) { diff = d; at = i; }
            scale = Math.Max(scale, Math.Abs(e[i]));
        }
        double err = diff / scale;
        return (err, err > 1e-4 && at >= 0 ? string.Create(CultureInfo.InvariantCulture, $" at {at}: {x[at]:G7} vs {e[at]:G7}") : "");
    }
}
