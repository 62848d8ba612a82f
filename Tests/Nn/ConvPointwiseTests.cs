using FsCheck.Xunit;
using Sparkle.Nn;
using Sparkle.Tensors;
using Sparkle.Tensors.Backend;
using Sparkle.Tensors.Cpu;
using Sparkle.Tensors.Cpu.Conv;
using Sparkle.Tests.Support;
using Xunit;
using static Sparkle.Tests.Nn.ConvTests;

namespace Sparkle.Tests.Nn;

/// <summary>The 1x1 GEMM path (<see cref="PointwiseConv{T}"/>), forced on, against the naive float64 loops: forward,
/// input and weight gradients, every layout, strides 1-3 (compact gather / scatter), dilation, bias, each GEMM
/// micro-kernel, transposed and strided weight-gradient outputs, ConvTranspose2d with output padding, finite
/// differences, 1 vs 2 threads bit-identical, and the ResNet-50 shapes the rule sends to it. (The PyTorch golden
/// cases conv2d_k1_s1_p0 and conv2d_k1_s2_p0_nobias run it through the default rule in ConvTests.)</summary>
public class ConvPointwiseTests
{
    /// <summary>The CPU backend with the pointwise path forced and the GEMM micro-kernel of <paramref name="isa"/>.</summary>
    private static CpuBackend Pointwise(CpuIsa isa = CpuIsa.Auto)
        => CpuBackend.WithOptions(new CpuKernelOptions { ConvPointwise = true, Isa = isa });

    private static readonly ActLayout[] Layouts = Enum.GetValues<ActLayout>();

    private static ConvCase RandomCase(Random rng, int maxC = 6, int maxHW = 7)
    {
        int s = rng.Next(1, 4), t = rng.Next(1, 4);
        return new ConvCase(rng.Next(1, 4), 1, rng.Next(1, maxC + 1), rng.Next(1, maxC + 1), rng.Next(1, maxHW + 1), rng.Next(1, maxHW + 1),
            1, 1, s, t, 0, 0, rng.Next(1, 3), rng.Next(1, 3), rng.Next(2) == 0);
    }

    [Property(MaxTest = 60)]
    public void RandomCasesMatchReference(long seed)
    {
        var rng = new SeededRandom(seed);
        var k = RandomCase(rng);
        var dt = rng.Next(2) == 0 ? DType.Float32 : DType.Float64;
        var isa = rng.Next(5) switch { 0 => CpuIsa.Scalar, 1 => CpuIsa.Avx512, 2 => CpuIsa.V128, 3 => CpuIsa.Avx2, _ => CpuIsa.Auto };
        CheckCase(rng, k, dt, Layouts[rng.Next(Layouts.Length)], rng.Next(2) == 0, Pointwise(isa));
    }

    /// <summary>Channel counts past one GEMM k block (KC = 256) and maps large enough to thread the GEMMs, stride 1 and 2,
    /// in every input layout and both output-gradient layouts.</summary>
    [Theory]
    [InlineData(ActLayout.Contiguous, 1)]
    [InlineData(ActLayout.ChannelsLast, 1)]
    [InlineData(ActLayout.Contiguous, 2)]
    [InlineData(ActLayout.ChannelsLast, 2)]
    [InlineData(ActLayout.PaddedRows, 1)]
    [InlineData(ActLayout.SteppedW, 2)]
    [InlineData(ActLayout.ChannelsLastPadded, 1)]
    public void LargerCasesMatchReference(ActLayout layout, int stride)
    {
        var rng = new Random(31 + stride);
        var k = new ConvCase(2, 1, 300, 40, 9, 8, 1, 1, stride, stride, 0, 0, 1, 1, true);
        foreach (bool clGrad in new[] { false, true })
            CheckCase(rng, k, DType.Float32, layout, clGrad, Pointwise());
    }

    /// <summary>The weight gradient into outputs of any strides: contiguous, transposed (unit stride along O: dWᵀ is
    /// computed), and with gaps (through a scratch).</summary>
    [Theory]
    [InlineData(ActLayout.Contiguous)]
    [InlineData(ActLayout.ChannelsLast)]
    public void WeightGradientIntoAnyStrides(ActLayout layout)
    {
        var rng = new Random(4);
        var k = new ConvCase(3, 1, 7, 5, 6, 5, 1, 1, 2, 1, 0, 0, 1, 1, false);
        var x = Activation(rng, k.XShape, DType.Float64, layout);
        var dy = Activation(rng, k.YShape, DType.Float64, layout);
        var p = new Conv2dParams(k.SH, k.SW, 0, 0, 1, 1, 1);
        var (_, expected, _) = ConvReference.Backward(k, x.ToDoubleArray(), new double[k.O * k.C], dy.ToDoubleArray());
        var outputs = new[]
        {
            Tensor.Empty([k.O, k.C, 1, 1], DType.Float64),
            Tensor.Empty([k.C, k.O, 1, 1], DType.Float64).Permute(1, 0, 2, 3),
            Tensor.Empty([k.O, 2 * k.C, 1, 1], DType.Float64).Slice(1, 0, 2 * k.C, 2),
        };
        foreach (var dw in outputs)
        {
            Pointwise().Conv2dBackwardWeight(dy, x, dw, p);
            Near(expected, dw, 1e-12, $"dw strides ({dw.Stride(0)}, {dw.Stride(1)})");
        }
    }

    /// <summary>ConvTranspose2d with a 1x1 kernel (its forward is the pointwise input gradient): stride 2 with and
    /// without output padding leaves pixels that no input reaches (zeros, plus the bias).</summary>
    [Theory]
    [InlineData(ActLayout.Contiguous)]
    [InlineData(ActLayout.ChannelsLast)]
    public void ConvTransposeMatchesScatterReference(ActLayout layout)
    {
        var rng = new Random(6);
        foreach (var dt in new[] { DType.Float32, DType.Float64 })
            foreach (var (s, op) in new[] { (1, 0), (2, 0), (2, 1), (3, 2) })
            {
                int n = 2, cin = 6, cout = 5, h = 3, w = 4;
                var x = Pointwise().Adopt(Activation(rng, [n, cin, h, w], dt, layout)).RequireGrad();
                var wt = Weight(rng, [cin, cout, 1, 1], dt).RequireGrad();
                var b = Rand(rng, [cout], dt).RequireGrad();
                var y = Functional.ConvTranspose2d(x, wt, b, s, 0, op, 1, 1);
                var gy = Rand(rng, y.ShapeArray(), dt);
                var r = ConvReference.Transposed(n, cin, h, w, cout, 1, 1, 1, s, 0, op, 1, x.ToDoubleArray(), wt.ToDoubleArray(), b.ToDoubleArray(), gy.ToDoubleArray());
                string what = $"convT 1x1 s{s} op{op} {dt.Name()} {layout}";
                Near(r.Y, y, Tol(dt), what + " forward");
                y.Backward(gy);
                Near(r.Dx, x.Grad!, Tol(dt), what + " grad input");
                Near(r.Dw, wt.Grad!, Tol(dt), what + " grad weight");
                Near(r.Db, b.Grad!, Tol(dt), what + " grad bias");
            }
    }

    [Property(MaxTest = 15)]
    public void GradCheck(long seed)
    {
        var rng = new SeededRandom(seed);
        var k = RandomCase(rng, maxC: 3, maxHW: 4);
        var x = Pointwise().Adopt(GradGen.Leaf(rng, k.XShape)).RequireGrad();
        var w = GradGen.Leaf(rng, k.WShape);
        var inputs = k.Bias ? new[] { x, w, GradGen.Leaf(rng, [k.O]) } : new[] { x, w };
        GradGen.AssertGrads($"pointwise conv2d {k}",
            t => Functional.Conv2d(t[0], t[1], k.Bias ? t[2] : null, [k.SH, k.SW], [0, 0], [k.DH, k.DW], 1), inputs);
    }

    /// <summary>GEMMs large enough to thread (per image and over the batch, several k blocks): same bits on 1 and 2 threads.</summary>
    [Theory]
    [InlineData(ActLayout.Contiguous, 1)]
    [InlineData(ActLayout.ChannelsLast, 1)]
    [InlineData(ActLayout.Contiguous, 2)]
    [InlineData(ActLayout.ChannelsLast, 2)]
    public void ResultsDoNotDependOnThreadCount(ActLayout layout, int stride)
    {
        var rng = new Random(9);
        var k = new ConvCase(3, 1, 270, 96, 12, 12, 1, 1, stride, stride, 0, 0, 1, 1, true);
        var x0 = Activation(rng, k.XShape, DType.Float32, layout);
        var w0 = Rand(rng, k.WShape, DType.Float32);
        var b0 = Rand(rng, [k.O], DType.Float32);
        var dy = Activation(rng, k.YShape, DType.Float32, layout);
        Threads.AssertSameOnOneAndTwo(() => ConvOutputs(Pointwise().Adopt(x0), w0, b0, dy, stride, 0, 1));
    }

    /// <summary>The rule: ResNet-50's 1x1 convs at 56/28/14 (stride 1 and the stride-2 downsample) take the pointwise
    /// path; its 7x7 stage (small map, large weights) stays batched; padded or grouped 1x1 do not qualify; the 3x3 at
    /// 14x14 with 256 channels runs its input gradient batched (P = 196), its forward and weight gradient on the slab
    /// kernels (the weight gradient's batched limit is 144 pixels).</summary>
    [Theory]
    [InlineData(64, 256, 1, 1, 0, 1, 56, "Pointwise", "Pointwise")]
    [InlineData(256, 512, 1, 2, 0, 1, 56, "Pointwise", "Pointwise")]
    [InlineData(1024, 256, 1, 1, 0, 1, 14, "Pointwise", "Pointwise")]
    [InlineData(2048, 512, 1, 1, 0, 1, 7, "Batched", "Batched")]
    [InlineData(64, 64, 1, 1, 1, 1, 56, "Slab", "Slab")]
    [InlineData(64, 64, 1, 1, 0, 2, 56, "Slab", "Slab")]
    [InlineData(64, 64, 3, 1, 1, 1, 56, "Slab", "Slab")]
    [InlineData(256, 256, 3, 1, 1, 1, 14, "Slab", "Batched", "Slab")]
    [InlineData(128, 128, 3, 1, 1, 1, 28, "Slab", "Slab")]
    [InlineData(64, 64, 3, 1, 1, 1, 14, "Slab", "Slab")] // small weights
    public void PlanPicksPointwiseFor1x1(int cin, int cout, int k, int s, int p, int groups, int h, string forward, string backward, string? weightGrad = null)
    {
        int oh = (h + 2 * p - k) / s + 1;
        var sp = new Conv2dParams(s, s, p, p, 1, 1, groups);
        var g = new ConvGeometry([8, cin, h, h], [cout, cin / groups, k, k], [8, cout, oh, oh], sp);
        var x = Tensor.Empty([1, cin, h, h]); // the plan reads layouts from the tensors, sizes from g
        var y = Tensor.Empty([1, cout, oh, oh]);
        // The plan is a pure function of its inputs: the rule of the AVX2 family (where it was measured), on any host.
        var avx2 = new CpuKernelOptions { Isa = CpuIsa.Avx2 };
        Assert.Equal(forward, ConvPlan.Forward(g, x, y, avx2).Algorithm.ToString());
        Assert.Equal(backward, ConvPlan.BackwardInput(g, y, x, avx2).Algorithm.ToString());
        Assert.Equal(weightGrad ?? backward, ConvPlan.BackwardWeight(g, y, x, avx2).Algorithm.ToString());
        // The vector families run the same rule with their width's slab kernels (the plan names the width); the Scalar
        // family has no slab kernels: the packed im2col GEMM with the scalar micro-kernel.
        foreach (var (isa, width) in new[] { (CpuIsa.Avx512, "Vector512"), (CpuIsa.Avx2, "Vector256"), (CpuIsa.V128, "Vector128") })
        {
            var o = new CpuKernelOptions { Isa = isa };
            var (f, bi) = (ConvPlan.Forward(g, x, y, o), ConvPlan.BackwardInput(g, y, x, o));
            Assert.Equal(forward, f.Algorithm.ToString());
            Assert.Equal(backward, bi.Algorithm.ToString());
            Assert.StartsWith($"{forward} {width} ", f.ToString());
            Assert.StartsWith($"{backward} {width} ", bi.ToString());
            Assert.StartsWith($"{weightGrad ?? backward} {width} ", ConvPlan.BackwardWeight(g, y, x, o).ToString());
        }
        var scalar = new CpuKernelOptions { Isa = CpuIsa.Scalar };
        string sf = ConvPlan.Forward(g, x, y, scalar).ToString(), sb = ConvPlan.BackwardInput(g, y, x, scalar).ToString();
        string sw = ConvPlan.BackwardWeight(g, y, x, scalar).ToString();
        Assert.True(!sf.StartsWith("Slab ") && !sb.StartsWith("Slab ") && !sw.StartsWith("Slab "), $"Scalar: {sf}; {sb}; {sw}");
    }
}
