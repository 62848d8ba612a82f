using System.Buffers.Binary;
using System.Text.Json;
using FsCheck.Xunit;
using Sparkle.Nn;
using Sparkle.Nn.Optim;
using Sparkle.Tensors;
using Sparkle.Tests.Support;
using Xunit;

namespace Sparkle.Tests.Nn;

/// <summary>Optimizers (SGD, AdamW, LAMB) against the PyTorch/timm goldens and independent double-precision
/// references, SparK's schedule and parameter grouping (SPARK.md §5.2–5.4), gradient clipping, and exact
/// resume through the optimizer state dict.</summary>
public class OptimTests
{
    // ---------------------------------------------------------------- goldens

    public static TheoryData<string, DType> GoldenCases() => ElementwiseGoldenTests.CasesOf("optimizers.safetensors", "sgd", "adamw", "lamb");

    /// <summary>3 steps of each golden case: params after every step to 1e-10 (float64) / 1e-5 (float32) normwise,
    /// and LAMB's pre-clip global grad norm.</summary>
    [Theory]
    [MemberData(nameof(GoldenCases))]
    public void OptimizerMatchesGolden(string name, DType dtype)
    {
        var g = Golden.Open("optimizers.safetensors", name);
        var meta = g.Meta;
        double tol = dtype == DType.Float64 ? 1e-10 : 1e-5;
        var w = ToTensor(g["weight_0"], dtype).RequireGrad();
        var b = ToTensor(g["bias_0"], dtype).RequireGrad();
        double lr = meta.GetProperty("lr").GetDouble();
        var wds = meta.GetProperty("weight_decay");
        ParamGroup[] groups =
        [
            new(new[] { ("weight", w) }, weightDecay: wds.GetProperty("weight").GetDouble(), name: "decay"),
            new(new[] { ("bias", b) }, weightDecay: wds.GetProperty("bias").GetDouble(), name: "no_decay"),
        ];
        string op = meta.GetProperty("op").GetString()!;
        Assert.False(meta.TryGetProperty("maximize", out var max) && max.GetBoolean());
        Optimizer opt = op switch
        {
            "sgd" => new Sgd(groups, lr, momentum: meta.GetProperty("momentum").GetDouble(), dampening: meta.GetProperty("dampening").GetDouble(),
                             nesterov: meta.GetProperty("nesterov").GetBoolean()),
            "adamw" => new AdamW(groups, lr, Beta(meta, 0), Beta(meta, 1), meta.GetProperty("eps").GetDouble()),
            "lamb" => new Lamb(groups, lr, Beta(meta, 0), Beta(meta, 1), meta.GetProperty("eps").GetDouble(),
                               maxGradNorm: meta.GetProperty("max_grad_norm").GetDouble(),
                               biasCorrection: meta.GetProperty("bias_correction").GetBoolean(),
                               gradAveraging: meta.GetProperty("grad_averaging").GetBoolean(),
                               trustClip: meta.GetProperty("trust_clip").GetBoolean(),
                               alwaysAdapt: meta.GetProperty("always_adapt").GetBoolean()),
            _ => throw new ArgumentException(op),
        };
        if (op == "adamw") Assert.False(meta.GetProperty("amsgrad").GetBoolean());
        int steps = meta.GetProperty("steps").GetInt32();
        for (int k = 1; k <= steps; k++)
        {
            w.Grad = ToTensor(g[$"grad_weight_{k}"], dtype);
            b.Grad = ToTensor(g[$"grad_bias_{k}"], dtype);
            opt.Step();
            AssertNormwise(g[$"weight_{k}"], w, tol, $"{name} weight step {k} ({dtype.Name()})");
            AssertNormwise(g[$"bias_{k}"], b, tol, $"{name} bias step {k} ({dtype.Name()})");
            if (opt is Lamb lamb)
            {
                double expected = g[$"grad_norm_{k}"].Values[0], actual = lamb.GlobalGradNorm!.Item();
                Assert.True(Math.Abs(actual - expected) <= tol * expected, $"{name} grad norm step {k}: {actual:R} vs {expected:R}");
            }
        }
        g.AssertAllRead();
    }

    private static double Beta(JsonElement meta, int i) => meta.GetProperty("betas")[i].GetDouble();

    private static Tensor ToTensor(Golden.Entry e, DType dtype) => Tensor.FromArray(e.Values, e.Shape).To(dtype);

    private static void AssertNormwise(Golden.Entry expected, Tensor actual, double tol, string what)
    {
        Check.Shape(actual, expected.Shape);
        var a = actual.ToDoubleArray();
        double maxDiff = 0, maxRef = 0;
        for (int i = 0; i < a.Length; i++)
        {
            maxDiff = Math.Max(maxDiff, Math.Abs(a[i] - expected.Values[i]));
            maxRef = Math.Max(maxRef, Math.Abs(expected.Values[i]));
        }
        Assert.True(maxDiff <= tol * maxRef, $"{what}: normwise relative error {maxDiff / maxRef:E2} > {tol:E0}");
    }

    // ---------------------------------------------------------------- LAMB by hand

    /// <summary>LAMB on a decay tensor and a no-decay tensor with a global grad norm above 5, two steps, against
    /// SPARK.md §5.4 written out in plain double arithmetic: clipping, per-group step, bias correction, eps after
    /// the bias-corrected sqrt, weight decay and trust ratio only in the decay group.</summary>
    [Property(MaxTest = 25)]
    public void LambMatchesHandComputedSteps(long seed)
    {
        var rng = new SeededRandom(seed);
        double lr = 1e-3 + rng.NextDouble() * 5e-2, wd = 0.01 + rng.NextDouble() * 0.2;
        double beta2 = rng.Next(2) == 0 ? 0.95 : 0.999;
        const double beta1 = 0.9, eps = 1e-6, maxNorm = 5;
        int rows = rng.Next(1, 4), cols = rng.Next(1, 5), nb = rng.Next(1, 5);
        var w0 = Uniform(rng, rows * cols);
        var b0 = Uniform(rng, nb);
        var w = Tensor.FromArray(w0, [rows, cols]).RequireGrad();
        var b = Tensor.FromArray(b0, [nb]).RequireGrad();
        var opt = new Lamb(
            [new ParamGroup(new[] { ("conv.weight", w) }, weightDecay: wd), new ParamGroup(new[] { ("conv.bias", b) }, weightDecay: 0)],
            lr, beta1, beta2, eps);

        double[] pw = (double[])w0.Clone(), pb = (double[])b0.Clone();
        double[] mw = new double[pw.Length], vw = new double[pw.Length], mb = new double[pb.Length], vb = new double[pb.Length];
        for (int step = 1; step <= 2; step++)
        {
            var gw = Uniform(rng, pw.Length);
            var gb = Uniform(rng, pb.Length);
            // scale so the global norm is in (6, 20): clipping must trigger
            double raw = Math.Sqrt(gw.Concat(gb).Sum(x => x * x)), target = 6 + 14 * rng.NextDouble();
            for (int i = 0; i < gw.Length; i++) gw[i] *= target / raw;
            for (int i = 0; i < gb.Length; i++) gb[i] *= target / raw;
            w.Grad = Tensor.FromArray(gw, [rows, cols]);
            b.Grad = Tensor.FromArray(gb, [nb]);
            opt.Step();

            double gNorm = Math.Sqrt(gw.Concat(gb).Sum(x => x * x));
            Assert.True(gNorm > 5);
            double clip = 1 / Math.Max(gNorm / maxNorm, 1);
            for (int i = 0; i < gw.Length; i++) gw[i] *= clip;
            for (int i = 0; i < gb.Length; i++) gb[i] *= clip;
            double bc1 = 1 - Math.Pow(beta1, step), bc2 = 1 - Math.Pow(beta2, step);
            HandLambParam(pw, gw, mw, vw, lr, wd, beta1, beta2, eps, bc1, bc2);
            HandLambParam(pb, gb, mb, vb, lr, 0, beta1, beta2, eps, bc1, bc2);

            Assert.True(Math.Abs(opt.GlobalGradNorm!.Item() - gNorm) <= 1e-12 * gNorm);
            Check.Close(gw, w.Grad!, 1e-12, 0, "clipped grad (in place)");
            Check.Close(pw, w, 1e-6, 1e-12, $"decay param step {step}");
            Check.Close(pb, b, 1e-6, 1e-12, $"no-decay param step {step}");
            Check.Close(mw, opt.StateOf(w)!.Buffers["exp_avg"], 1e-9, 1e-15, "exp_avg");
            Check.Close(vb, opt.StateOf(b)!.Buffers["exp_avg_sq"], 1e-9, 1e-15, "exp_avg_sq");
            Assert.All(opt.ParamGroups, gr => Assert.Equal(step, gr.StepCount));
        }
    }

    private static void HandLambParam(double[] p, double[] g, double[] m, double[] v, double lr, double wd,
                                      double beta1, double beta2, double eps, double bc1, double bc2)
    {
        var u = new double[p.Length];
        for (int i = 0; i < p.Length; i++)
        {
            m[i] = beta1 * m[i] + (1 - beta1) * g[i];
            v[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i];
            u[i] = m[i] / bc1 / (Math.Sqrt(v[i]) / Math.Sqrt(bc2) + eps);
            if (wd != 0) u[i] += wd * p[i];
        }
        double trust = 1;
        if (wd != 0)
        {
            double pn = Math.Sqrt(p.Sum(x => x * x)), un = Math.Sqrt(u.Sum(x => x * x));
            if (pn > 0 && un > 0) trust = pn / un;
        }
        for (int i = 0; i < p.Length; i++) p[i] -= lr * trust * u[i];
    }

    private static double[] Uniform(Random rng, int n) => Enumerable.Range(0, n).Select(_ => rng.NextDouble() * 2 - 1).ToArray();

    // ---------------------------------------------------------------- SGD and AdamW references

    /// <summary>torch.optim.SGD (momentum, dampening, Nesterov, coupled weight decay) and torch.optim.AdamW over 4
    /// steps with random hyper-parameters, against their update rules in plain doubles; also a step where one
    /// parameter has no gradient (skipped: value and state untouched).</summary>
    [Property(MaxTest = 25)]
    public void SgdAndAdamWMatchTheirUpdateRules(long seed)
    {
        var rng = new SeededRandom(seed);
        int n = rng.Next(1, 7);
        double lr = 1e-3 + rng.NextDouble() * 0.1, wd = rng.Next(3) == 0 ? 0 : rng.NextDouble() * 0.1;
        bool nesterov = rng.Next(2) == 0;
        double momentum = nesterov ? 0.5 + 0.49 * rng.NextDouble() : (rng.Next(3) == 0 ? 0 : rng.NextDouble());
        double dampening = nesterov ? 0 : (rng.Next(2) == 0 ? 0 : rng.NextDouble() * 0.5);
        double beta1 = rng.NextDouble() * 0.95, beta2 = 0.9 + rng.NextDouble() * 0.099, eps = Math.Pow(10, -rng.Next(4, 9));

        var p0 = Uniform(rng, n);
        var ps = Tensor.FromArray(p0).RequireGrad();
        var pa = Tensor.FromArray(p0).RequireGrad();
        var sgd = new Sgd(new[] { ("p", ps) }, lr, momentum, dampening, wd, nesterov);
        var adamw = new AdamW(new[] { ("p", pa) }, lr, beta1, beta2, eps, wd);
        double[] xs = (double[])p0.Clone(), xa = (double[])p0.Clone(), buf = new double[n], m = new double[n], v = new double[n];
        int t = 0;
        bool first = true;
        for (int step = 1; step <= 4; step++)
        {
            if (step == 2)
            {
                // no gradient: skipped by both
                var beforeS = ps.ToDoubleArray();
                var beforeA = pa.ToDoubleArray();
                sgd.ZeroGrad();
                adamw.ZeroGrad();
                sgd.Step();
                adamw.Step();
                Assert.Equal(beforeS, ps.ToDoubleArray());
                Assert.Equal(beforeA, pa.ToDoubleArray());
                continue;
            }
            var g = Uniform(rng, n);
            ps.Grad = Tensor.FromArray(g);
            pa.Grad = Tensor.FromArray(g);
            sgd.Step();
            adamw.Step();
            for (int i = 0; i < n; i++)
            {
                double d = g[i] + wd * xs[i];
                if (momentum != 0)
                {
                    buf[i] = first ? d : momentum * buf[i] + (1 - dampening) * d;
                    d = nesterov ? d + momentum * buf[i] : buf[i];
                }
                xs[i] -= lr * d;
            }
            first = false;
            t++;
            double bc1 = 1 - Math.Pow(beta1, t), bc2 = 1 - Math.Pow(beta2, t);
            for (int i = 0; i < n; i++)
            {
                xa[i] *= 1 - lr * wd;
                m[i] = beta1 * m[i] + (1 - beta1) * g[i];
                v[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i];
                xa[i] -= lr / bc1 * m[i] / (Math.Sqrt(v[i]) / Math.Sqrt(bc2) + eps);
            }
            Check.Close(xs, ps, 1e-10, 1e-13, $"sgd step {step} (momentum {momentum}, dampening {dampening}, nesterov {nesterov}, wd {wd})");
            Check.Close(xa, pa, 1e-10, 1e-13, $"adamw step {step}");
            Assert.Equal(t, adamw.StateOf(pa)!.Step);
            Assert.Equal(momentum != 0, sgd.StateOf(ps)?.Buffers.ContainsKey("momentum_buffer") ?? false);
        }
    }

    // ---------------------------------------------------------------- Step / ZeroGrad

    [Fact]
    public void ZeroGradClearsEveryGradientAndStepSkipsParametersWithoutOne()
    {
        foreach (var kind in new[] { "sgd", "adamw", "lamb" })
        {
            var a = Tensor.FromArray(new[] { 1.0, -2.0, 3.0 }).RequireGrad();
            var b = Tensor.FromArray(new[] { 0.5, 0.25 }).RequireGrad();
            var c = Tensor.FromArray(new[] { 4.0, 5.0, 6.0, 7.0 }, [2, 2]).RequireGrad();
            ParamGroup[] groups = [new(new[] { ("a", a), ("b", b) }, weightDecay: 0.1), new(new[] { ("c.bias", c) }, weightDecay: 0)];
            var opt = MakeOptimizer(kind, groups, 0.1);
            a.Grad = Tensor.FromArray(new[] { 30.0, 40.0, 0.0 });
            c.Grad = Tensor.FromArray(new[] { 1.0, 1.0, 1.0, 1.0 }, [2, 2]);
            var bBefore = b.ToDoubleArray();
            opt.Step();
            Assert.Equal(bBefore, b.ToDoubleArray());
            Assert.Null(opt.StateOf(b));
            Assert.NotEqual(new[] { 1.0, -2.0, 3.0 }, a.ToDoubleArray());
            if (opt is Lamb lamb)
            {
                Assert.Equal(Math.Sqrt(2500 + 4), lamb.GlobalGradNorm!.Item(), 12);
                Assert.All(opt.ParamGroups, g => Assert.Equal(1, g.StepCount));
            }

            opt.ZeroGrad();
            Assert.Null(a.Grad);
            Assert.Null(b.Grad);
            Assert.Null(c.Grad);
            var snapshot = new[] { a, b, c }.Select(t => t.ToDoubleArray()).ToArray();
            opt.Step();
            Assert.Equal(snapshot, new[] { a, b, c }.Select(t => t.ToDoubleArray()).ToArray());
        }
    }

    [Fact]
    public void ConstructionRejectsBadParameterLists()
    {
        var a = Tensor.Zeros([2], DType.Float64).RequireGrad();
        Assert.Throws<ArgumentException>(() => new Sgd(new[] { ("a", a), ("b", a) }, 0.1));
        Assert.Throws<ArgumentException>(() => new AdamW(Array.Empty<(string, Tensor)>(), 0.1));
        Assert.Throws<ArgumentException>(() => new Sgd(new[] { ("i", Tensor.Zeros([2], DType.Int64)) }, 0.1));
        Assert.Throws<ArgumentException>(() => new Sgd(new[] { ("a", a) }, 0.1, momentum: 0, nesterov: true));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Lamb(new[] { ("a", a) }, 0.1, beta2: 1.0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Sgd(new[] { ("a", a) }, -1));
        // a group without lr / wd takes the optimizer's; one with them keeps its own
        var g1 = new ParamGroup(new[] { ("a", a) });
        var g2 = new ParamGroup(new[] { ("b", Tensor.Zeros([1]).RequireGrad()) }, lr: 0.5, weightDecay: 0.25);
        var opt = new AdamW([g1, g2], lr: 0.01, weightDecay: 0.03);
        Assert.Equal((0.01, 0.03), (g1.Lr, g1.WeightDecay));
        Assert.Equal((0.5, 0.25), (g2.Lr, g2.WeightDecay));
        Assert.Equal(2, opt.ParamGroups.Count);
    }

    private static Optimizer MakeOptimizer(string kind, IEnumerable<ParamGroup> groups, double lr) => kind switch
    {
        "sgd" => new Sgd(groups, lr, momentum: 0.9, nesterov: true),
        "adamw" => new AdamW(groups, lr, 0.9, 0.999),
        "lamb" => new Lamb(groups, lr, 0.9, 0.95),
        _ => throw new ArgumentException(kind),
    };

    // ---------------------------------------------------------------- schedule

    /// <summary>SPARK.md §5.2's table for ImageNet-1k (bs 4096 → 313 iterations/epoch, wp 12,520, T 500,800,
    /// peak 3.2e-3, wd 0.04 → 0.2), to 1e-6 relative; and its rules: lr scale = base·bs/256, ceil for iterations.</summary>
    [Fact]
    public void ScheduleMatchesSparkTable()
    {
        long ipe = LrWdSchedule.ItersPerEpoch(1_281_167, 4096);
        Assert.Equal(313, ipe);
        double peak = LrWdSchedule.ScaledLr(2e-4, 4096);
        Assert.Equal(3.2e-3, peak, 15);
        var s = LrWdSchedule.FromEpochs(peak, 0.04, 0.2, epochs: 1600, warmupEpochs: 40, itersPerEpoch: ipe);
        Assert.Equal(12_520, s.WarmupIters);
        Assert.Equal(500_800, s.TotalIters);
        (long It, double Lr, double Wd)[] table =
        [
            (0, 1.6e-5, 0.04),
            (1, 1.6254313e-5, 0.04),
            (6_260, 1.608e-3, 0.040061677),
            (12_520, 3.2e-3, 0.040246614),
            (250_400, 1.6659561e-3, 0.12000025),
            (500_799, 3.2e-6, 0.2),
        ];
        foreach (var (it, lr, wd) in table)
        {
            Assert.True(Math.Abs(s.Lr(it) - lr) <= 1e-6 * lr, $"lr at {it}: {s.Lr(it):R}, expected {lr:R}");
            Assert.True(Math.Abs(s.Wd(it) - wd) <= 1e-6 * wd, $"wd at {it}: {s.Wd(it):R}, expected {wd:R}");
        }
        // wde = 0 falls back to wd (constant weight decay)
        var flat = LrWdSchedule.FromEpochs(peak, 0.05, 0, 10, 1, 100);
        Assert.Equal(0.05, flat.Wd(500), 15);
        // half-to-even rounding of wp (Python's round): 2.5 → 2, 3.5 → 4
        Assert.Equal(2, LrWdSchedule.FromEpochs(1, 0, 0, 10, 0.5, 5).WarmupIters);
        Assert.Equal(4, LrWdSchedule.FromEpochs(1, 0, 0, 10, 0.5, 7).WarmupIters);
    }

    /// <summary>The schedule's endpoints and shape for random run lengths, and Apply writing lr·lr_scale and
    /// wd·wd_scale into each group.</summary>
    [Property(MaxTest = 50)]
    public void ScheduleEndpointsAndGroupScales(long seed)
    {
        var rng = new SeededRandom(seed);
        long total = rng.Next(3, 100_000);
        long wp = rng.Next(0, (int)Math.Min(total - 1, int.MaxValue));
        double peak = rng.NextDouble() * 1e-2 + 1e-5, wd0 = rng.NextDouble() * 0.1, wde = rng.NextDouble() * 0.5;
        var s = new LrWdSchedule(peak, wd0, wde, wp, total);
        Assert.Equal(wp == 0 ? peak : 0.005 * peak, s.Lr(0), 12);
        Assert.Equal(peak, s.Lr(wp), 12);
        Assert.True(Math.Abs(s.Lr(total - 1) - 0.001 * peak) <= 1e-12 * peak);
        Assert.True(Math.Abs(s.Wd(0) - wd0) <= 1e-15 + 1e-12 * wd0);
        Assert.True(Math.Abs(s.Wd(total - 1) - wde) <= 1e-15 + 1e-12 * wde);
        long it = rng.NextInt64(0, total);
        if (it > 0 && it < wp) Assert.True(s.Lr(it) > s.Lr(it - 1));
        if (it > wp) Assert.True(s.Lr(it) <= s.Lr(it - 1));

        var a = Tensor.Zeros([2, 2]).RequireGrad();
        var b = Tensor.Zeros([2]).RequireGrad();
        var c = Tensor.Zeros([3]).RequireGrad();
        double lrScale = rng.NextDouble() * 2;
        ParamGroup[] groups =
        [
            new(new[] { ("a", a) }, weightDecayScale: 1),
            new(new[] { ("b", b) }, weightDecayScale: 0),
            new(new[] { ("c", c) }, lrScale: lrScale, weightDecayScale: 0.5),
        ];
        var opt = new Lamb(groups, lr: 123, weightDecay: 7);
        var v = s.Apply(opt, it);
        Assert.Equal((s.Lr(it), s.Wd(it)), (v.Lr, v.Wd));
        Assert.Equal(s.Lr(it), groups[0].Lr);
        Assert.Equal(s.Wd(it), groups[0].WeightDecay);
        Assert.Equal(s.Lr(it), groups[1].Lr);
        Assert.Equal(0, groups[1].WeightDecay);
        Assert.Equal(s.Lr(it) * lrScale, groups[2].Lr);
        Assert.Equal(s.Wd(it) * 0.5, groups[2].WeightDecay);
        Assert.Equal(Math.Min(s.Lr(it), s.Lr(it) * lrScale), v.MinLr);
        Assert.Equal(Math.Max(s.Lr(it), s.Lr(it) * lrScale), v.MaxLr);
        Assert.Equal((0.0, s.Wd(it)), (v.MinWd, v.MaxWd));
    }

    // ---------------------------------------------------------------- parameter groups

    /// <summary>A module holding named parameters, standing in for layers in these tests.</summary>
    private sealed class Holder : Module
    {
        public Holder(params (string Name, int[] Shape)[] parameters)
        {
            foreach (var (name, shape) in parameters) RegisterParameter(name, Tensor.Zeros(shape));
        }

        public Holder Add(string name, Module child)
        {
            RegisterModule(name, child);
            return this;
        }
    }

    /// <summary>SPARK.md §5.3 on ResNet/ConvNeXt/SparK-style names: 1-D, ".bias" and the no-wd keys (substring:
    /// mask_tokens.i, gamma, pos_embed, cls_token) go to no_decay; conv/linear/transposed-conv weights to decay;
    /// frozen parameters are left out; group order follows the first parameter.</summary>
    [Fact]
    public void ParamGroupsFollowSparkRules()
    {
        var resnet = new Holder()
            .Add("conv1", new Holder(("weight", [8, 3, 7, 7])))
            .Add("bn1", new Holder(("weight", [8]), ("bias", [8])))
            .Add("layer1", new Holder().Add("0", new Holder()
                .Add("conv1", new Holder(("weight", [8, 8, 1, 1])))
                .Add("bn1", new Holder(("weight", [8]), ("bias", [8])))
                .Add("downsample", new Holder().Add("0", new Holder(("weight", [8, 8, 1, 1]))))))
            .Add("fc", new Holder(("weight", [10, 8]), ("bias", [10])));
        var convnext = new Holder()
            .Add("downsample_layers", new Holder().Add("0", new Holder().Add("0", new Holder(("weight", [8, 3, 4, 4]), ("bias", [8])))))
            .Add("stages", new Holder().Add("0", new Holder().Add("0", new Holder(("gamma", [8]))
                .Add("dwconv", new Holder(("weight", [8, 1, 7, 7]), ("bias", [8])))
                .Add("pwconv1", new Holder(("weight", [32, 8]), ("bias", [32]))))));
        var spark = new Holder(("pos_embed", [1, 4, 8]), ("cls_token", [1, 1, 8]), ("scalar", []))
            .Add("sparse_encoder", new Holder().Add("sp_cnn", resnet))
            .Add("dense_decoder", new Holder().Add("dec", new Holder().Add("0", new Holder()
                .Add("up_sample", new Holder(("weight", [8, 4, 4, 4]), ("bias", [4])))
                .Add("conv", new Holder().Add("0", new Holder(("weight", [4, 4, 3, 3]))).Add("1", new Holder(("weight", [4]), ("bias", [4])))))))
            .Add("mask_tokens", new Holder(("0", [1, 8, 1, 1]), ("1", [1, 4, 1, 1])))
            .Add("proj", new Holder(("bias", [2, 3])))
            .Add("cnx", convnext)
            .Add("frozen", new Holder(("weight", [3, 3])));
        var frozen = spark.NamedParameters().Single(p => p.Name == "frozen.weight").Parameter;
        frozen.RequiresGrad = false;

        var groups = ParamGroups.Split(spark);
        Assert.Equal(["no_decay", "decay"], groups.Select(g => g.Name));   // pos_embed comes first
        var noDecay = groups[0];
        var decay = groups[1];
        Assert.Equal(0, noDecay.WeightDecayScale);
        Assert.Equal(1, decay.WeightDecayScale);
        Assert.All(groups, g => Assert.Equal(1, g.LrScale));
        string[] expectedDecay =
        [
            "scalar",   // 0-d: not "1-D" (len(shape) == 1 is false), no key in its name
            "sparse_encoder.sp_cnn.conv1.weight", "sparse_encoder.sp_cnn.layer1.0.conv1.weight",
            "sparse_encoder.sp_cnn.layer1.0.downsample.0.weight", "sparse_encoder.sp_cnn.fc.weight",
            "dense_decoder.dec.0.up_sample.weight", "dense_decoder.dec.0.conv.0.weight",
            "cnx.downsample_layers.0.0.weight", "cnx.stages.0.0.dwconv.weight", "cnx.stages.0.0.pwconv1.weight",
        ];
        string[] expectedNoDecay =
        [
            "pos_embed", "cls_token",
            "sparse_encoder.sp_cnn.bn1.weight", "sparse_encoder.sp_cnn.bn1.bias",
            "sparse_encoder.sp_cnn.layer1.0.bn1.weight", "sparse_encoder.sp_cnn.layer1.0.bn1.bias", "sparse_encoder.sp_cnn.fc.bias",
            "dense_decoder.dec.0.up_sample.bias", "dense_decoder.dec.0.conv.1.weight", "dense_decoder.dec.0.conv.1.bias",
            "mask_tokens.0", "mask_tokens.1", "proj.bias",
            "cnx.downsample_layers.0.0.bias", "cnx.stages.0.0.gamma", "cnx.stages.0.0.dwconv.bias", "cnx.stages.0.0.pwconv1.bias",
        ];
        Assert.Equal(expectedDecay, decay.ParameterNames);
        Assert.Equal(expectedNoDecay, noDecay.ParameterNames);
        var byName = spark.NamedParameters().ToDictionary(p => p.Name, p => p.Parameter);
        Assert.All(groups, g => Assert.All(g.ParameterNames.Zip(g.Parameters), np => Assert.Same(byName[np.First], np.Second)));

        // a ResNet alone starts with conv1.weight, so decay is the first group; no keys → only shape/.bias rules
        var rg = ParamGroups.Split(resnet);
        Assert.Equal(["decay", "no_decay"], rg.Select(g => g.Name));
        var plain = ParamGroups.Split(spark.NamedParameters(), noWeightDecayKeys: []);
        Assert.Contains("mask_tokens.0", plain.Single(g => g.Name == "decay").ParameterNames);
        Assert.Contains("cnx.stages.0.0.gamma", plain.Single(g => g.Name == "no_decay").ParameterNames); // still 1-D

        // SparK: optimizer built with weight_decay 0; the schedule then sets decay = wd, no_decay = 0
        var opt = new Lamb(groups, lr: 1e-3, weightDecay: 0);
        LrWdSchedule.Apply(opt, 2e-3, 0.04);
        Assert.Equal((2e-3, 0.04), (decay.Lr, decay.WeightDecay));
        Assert.Equal((2e-3, 0.0), (noDecay.Lr, noDecay.WeightDecay));
    }

    // ---------------------------------------------------------------- clip_grad_norm_

    /// <summary>torch.nn.utils.clip_grad_norm_: returns the total 2-norm over the gradients that exist, multiplies
    /// every gradient by min(max_norm/(norm+1e-6), 1).</summary>
    [Property(MaxTest = 40)]
    public void ClipGradNormMatchesTorchSemantics(long seed)
    {
        var rng = new SeededRandom(seed);
        var dtype = rng.Next(2) == 0 ? DType.Float64 : DType.Float32;
        int count = rng.Next(1, 5);
        var ps = new List<Tensor>();
        var grads = new List<double[]?>();
        double sumSq = 0;
        for (int i = 0; i < count; i++)
        {
            var shape = TensorGen.RandomShape(rng, 0, 3, 4);
            var p = Tensor.Zeros(shape, dtype).RequireGrad();
            ps.Add(p);
            if (i > 0 && rng.Next(4) == 0) { grads.Add(null); continue; }
            var g = TensorGen.Random(rng, shape, dtype).Mul(rng.NextDouble() * 4);
            p.Grad = g;
            var gv = g.ToDoubleArray();
            grads.Add(gv);
            sumSq += gv.Sum(x => x * x);
        }
        double total = Math.Sqrt(sumSq);
        double maxNorm = rng.Next(3) == 0 ? total * 2 + 1 : total * rng.NextDouble();
        double tol = dtype == DType.Float64 ? 1e-12 : 1e-5;
        Assert.True(Math.Abs(GradClipping.GradNorm(ps).Item() - total) <= tol * total + 1e-30);
        var returned = GradClipping.ClipGradNorm_(ps, maxNorm);
        Assert.True(Math.Abs(returned.Item() - total) <= tol * total + 1e-30, $"norm {returned.Item():R} vs {total:R}");
        double coef = Math.Min(maxNorm / (total + 1e-6), 1);
        for (int i = 0; i < count; i++)
        {
            if (grads[i] is not { } gv) { Assert.Null(ps[i].Grad); continue; }
            Check.Close(gv.Select(x => x * coef).ToArray(), ps[i].Grad!, tol, 1e-30, $"clipped grad {i}");
            if (coef == 1) Assert.Equal(gv, ps[i].Grad!.ToDoubleArray());
        }
        var none = GradClipping.ClipGradNorm_([Tensor.Zeros([2]).RequireGrad()], 1.0);
        Assert.Equal(0, none.Item());
    }

    // ---------------------------------------------------------------- state dict

    /// <summary>Exact resume: 2 steps (the first with one parameter lacking a gradient), save the state through a
    /// serialisation-like copy (cloned tensors, copied strings), build a fresh optimizer over copies of the
    /// parameters with other defaults, load, and take one more step on both: parameters and state agree bit for
    /// bit. Each optimizer, float32 and float64.</summary>
    [Property(MaxTest = 8)]
    public void StateDictRoundTripResumesBitForBit(long seed)
    {
        var rng = new SeededRandom(seed);
        foreach (var kind in new[] { "sgd", "adamw", "lamb" })
            foreach (var dtype in new[] { DType.Float32, DType.Float64 })
            {
                var model = new Holder(("pos_embed", [1, 3]))
                    .Add("conv", new Holder(("weight", [2, 3, 3, 3]), ("bias", [2])))
                    .Add("fc", new Holder(("weight", [4, 2]), ("bias", [4])));
                var ps = model.NamedParameters().ToList();
                using (Sparkle.Autograd.GradMode.NoGrad())
                    foreach (var (_, p) in ps) p.Copy_(TensorGen.Random(rng, p.ShapeArray(), DType.Float64));
                ps = ps.Select(np => (np.Name, np.Parameter.To(dtype).Detach().RequireGrad())).ToList();
                var opt = MakeOptimizer(kind, ParamGroups.Split(ps), 1e-2);
                var schedule = new LrWdSchedule(0.05, 0.04, 0.2, 1, 10);

                for (int step = 0; step < 2; step++)
                {
                    schedule.Apply(opt, step);
                    foreach (var (name, p) in ps)
                        p.Grad = step == 0 && name == "fc.bias" ? null : TensorGen.Random(rng, p.ShapeArray(), dtype).Mul(3);
                    opt.Step();
                }
                if (opt is AdamW)   // per-parameter step counts: fc.bias missed the first step
                    foreach (var (name, p) in ps) Assert.Equal(name == "fc.bias" ? 1 : 2, opt.StateOf(p)!.Step);

                var saved = opt.StateDict();
                var tensors = new OrderedTensorDict();
                foreach (var (k, t) in saved.Tensors) tensors.Add(k, t.Clone());
                var copy = new OptimizerStateDict(tensors, new Dictionary<string, string>(saved.Scalars));
                Assert.Equal(kind, copy.Scalars["optimizer"]);

                var ps2 = ps.Select(np => (np.Name, np.Parameter.Clone().Detach().RequireGrad())).ToList();
                var opt2 = kind switch
                {
                    "sgd" => (Optimizer)new Sgd(ParamGroups.Split(ps2), 7, momentum: 0.1),
                    "adamw" => new AdamW(ParamGroups.Split(ps2), 7, 0.5, 0.6, 1e-3, 0.9),
                    _ => new Lamb(ParamGroups.Split(ps2), 7, 0.5, 0.6, 1e-3, 0.9, maxGradNorm: 100),
                };
                opt2.LoadStateDict(copy);
                for (int g = 0; g < opt.ParamGroups.Count; g++)
                {
                    Assert.Equal(opt.ParamGroups[g].Lr, opt2.ParamGroups[g].Lr);
                    Assert.Equal(opt.ParamGroups[g].WeightDecay, opt2.ParamGroups[g].WeightDecay);
                    Assert.Equal(opt.ParamGroups[g].StepCount, opt2.ParamGroups[g].StepCount);
                }

                // one more step on both, with the same gradients and no schedule call (lr/wd come from the state)
                for (int i = 0; i < ps.Count; i++)
                {
                    var g = TensorGen.Random(rng, ps[i].Parameter.ShapeArray(), dtype);
                    ps[i].Parameter.Grad = g;
                    ps2[i].Item2.Grad = g.Clone();
                }
                opt.Step();
                opt2.Step();
                for (int i = 0; i < ps.Count; i++)
                {
                    Assert.True(ps[i].Parameter.ToDoubleArray().SequenceEqual(ps2[i].Item2.ToDoubleArray()),
                        $"{kind} {dtype.Name()}: {ps[i].Name} differs after resume");
                    var st1 = opt.StateOf(ps[i].Parameter)!;
                    var st2 = opt2.StateOf(ps2[i].Item2)!;
                    Assert.Equal(st1.Step, st2.Step);
                    Assert.Equal(st1.Buffers.Keys, st2.Buffers.Keys);
                    foreach (var (k, t) in st1.Buffers) Assert.True(t.ToDoubleArray().SequenceEqual(st2.Buffers[k].ToDoubleArray()), $"{kind} state {k}");
                }
            }
    }

    /// <summary>The state dict's documented layout (docs/nn-optim.md), and loads that must fail without changing
    /// anything: another optimizer kind, renamed or reshaped parameters, another group layout.</summary>
    [Fact]
    public void StateDictLayoutAndRejectedLoads()
    {
        var w = Tensor.FromArray(new[] { 1.0, 2.0, 3.0, 4.0 }, [2, 2]).RequireGrad();
        var b = Tensor.FromArray(new[] { 0.5, -0.5 }).RequireGrad();
        var opt = new AdamW(ParamGroups.Split(new[] { ("fc.weight", w), ("fc.bias", b) }), 0.01, weightDecay: 0);
        w.Grad = Tensor.OnesLike(w);
        opt.Step();
        var sd = opt.StateDict();
        Assert.Equal(["state.0.exp_avg", "state.0.exp_avg_sq"], sd.Tensors.Keys);
        Assert.Equal("sparkle.optim/1", sd.Scalars["format"]);
        Assert.Equal("adamw", sd.Scalars["optimizer"]);
        Assert.Equal("0.9", sd.Scalars["defaults.beta1"]);
        Assert.Equal("2", sd.Scalars["param_groups"]);
        Assert.Equal("decay", sd.Scalars["param_groups.0.name"]);
        Assert.Equal("0", sd.Scalars["param_groups.0.params"]);
        Assert.Equal("1", sd.Scalars["param_groups.1.params"]);
        Assert.Equal("0", sd.Scalars["param_groups.1.weight_decay_scale"]);
        Assert.Equal("fc.bias", sd.Scalars["param_names.1"]);
        Assert.Equal("1", sd.Scalars["state.0.step"]);
        Assert.False(sd.Scalars.ContainsKey("state.1.step"));
        Assert.Same(opt.StateOf(w)!.Buffers["exp_avg"], sd.Tensors["state.0.exp_avg"]);

        Tensor W() => Tensor.Zeros([2, 2], DType.Float64).RequireGrad();
        Tensor B() => Tensor.Zeros([2], DType.Float64).RequireGrad();
        Assert.Throws<InvalidOperationException>(() => new Sgd(ParamGroups.Split(new[] { ("fc.weight", W()), ("fc.bias", B()) }), 0.1).LoadStateDict(sd));
        var renamed = new AdamW(ParamGroups.Split(new[] { ("head.weight", W()), ("head.bias", B()) }), 0.1);
        Assert.Throws<InvalidOperationException>(() => renamed.LoadStateDict(sd));
        renamed.LoadStateDict(sd, checkNames: false);   // positions still match
        var reshaped = new AdamW(ParamGroups.Split(new[] { ("fc.weight", Tensor.Zeros([4, 1], DType.Float64).RequireGrad()), ("fc.bias", B()) }), 0.1);
        Assert.Throws<InvalidOperationException>(() => reshaped.LoadStateDict(sd));
        Assert.Equal(0.1, reshaped.ParamGroups[0].Lr);   // untouched by the failed load
        Assert.Null(reshaped.StateOf(reshaped.ParamGroups[0].Parameters[0]));
        var oneGroup = new AdamW(new[] { ("fc.weight", W()), ("fc.bias", B()) }, 0.1);
        Assert.Throws<InvalidOperationException>(() => oneGroup.LoadStateDict(sd));

        // float64 state loads into float32 parameters converted to their dtype
        var w32 = Tensor.Zeros([2, 2]).RequireGrad();
        var f32 = new AdamW(ParamGroups.Split(new[] { ("fc.weight", w32), ("fc.bias", Tensor.Zeros([2]).RequireGrad()) }), 0.1);
        f32.LoadStateDict(sd);
        Assert.Equal(DType.Float32, f32.StateOf(w32)!.Buffers["exp_avg"].DType);
        Assert.Equal(opt.StateOf(w)!.Buffers["exp_avg"].ToDoubleArray().Select(x => (double)(float)x), f32.StateOf(w32)!.Buffers["exp_avg"].ToDoubleArray());
    }
}

/// <summary>The optimizers' updates are tensor ops only (no host reads inside a step), so they run on a device
/// backend: two steps of each optimizer and a clip_grad_norm_ on the ILGPU CPU accelerator agree with the CPU.</summary>
[Collection(Sparkle.Tests.Gpu.IlgpuCollection.Name)]
public class OptimDeviceTests(Sparkle.Tests.Gpu.IlgpuFixture gpu)
{
    [Fact]
    public void OptimizerStepsOnTheDeviceAgreeWithTheCpu()
    {
        var rng = new Random(5);
        foreach (var dtype in new[] { DType.Float64, DType.Float32 })
            foreach (var kind in new[] { "sgd", "adamw", "lamb", "clip" })
            {
                double tol = dtype == DType.Float64 ? 1e-10 : 1e-5;
                int[][] shapes = [[3, 4], [4], [2, 1, 3, 3]];
                var init = shapes.Select(s => TensorGen.Random(rng, s, dtype)).ToArray();
                var grads = Enumerable.Range(0, 2).Select(_ => shapes.Select(s => TensorGen.Random(rng, s, dtype).Mul(4)).ToArray()).ToArray();
                (string, Tensor)[] Params(Device d) => init.Select((t, i) => ($"m.p{i}", t.To(d).Clone().RequireGrad())).ToArray();
                var cpu = Params(Device.Cpu);
                var dev = Params(gpu.Device);
                Optimizer? Make((string, Tensor)[] ps) => kind switch
                {
                    "sgd" => new Sgd(ParamGroups.Split(ps), 0.1, momentum: 0.9, nesterov: true),
                    "adamw" => new AdamW(ParamGroups.Split(ps), 0.01),
                    "lamb" => new Lamb(ParamGroups.Split(ps), 0.01, 0.9, 0.95),
                    _ => null,
                };
                var oc = Make(cpu);
                var od = Make(dev);
                for (int step = 0; step < 2; step++)
                {
                    if (oc is not null) { LrWdSchedule.Apply(oc, 0.01, 0.05); LrWdSchedule.Apply(od!, 0.01, 0.05); }
                    for (int i = 0; i < shapes.Length; i++)
                    {
                        cpu[i].Item2.Grad = grads[step][i].Clone();
                        dev[i].Item2.Grad = grads[step][i].To(gpu.Device);
                    }
                    if (oc is null)
                    {
                        var nc = GradClipping.ClipGradNorm_(cpu.Select(p => p.Item2), 1.0);
                        var nd = GradClipping.ClipGradNorm_(dev.Select(p => p.Item2), 1.0);
                        Assert.Equal(gpu.Device, nd.Device);
                        Assert.Equal(nc.Item(), nd.Item(), tol);
                        for (int i = 0; i < shapes.Length; i++)
                            Check.Close(cpu[i].Item2.Grad!.ToDoubleArray(), dev[i].Item2.Grad!.To(Device.Cpu), tol, tol, $"clip {dtype.Name()}");
                        continue;
                    }
                    oc.Step();
                    od!.Step();
                    for (int i = 0; i < shapes.Length; i++)
                    {
                        Assert.Equal(gpu.Device, dev[i].Item2.Device);
                        Check.Close(cpu[i].Item2.ToDoubleArray(), dev[i].Item2.To(Device.Cpu), tol, tol, $"{kind} {dtype.Name()} step {step} p{i}");
                    }
                }
            }
    }
}
