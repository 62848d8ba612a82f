using System.Buffers.Binary;
using System.Text.Json;
using FsCheck.Xunit;
using Sparkle.Autograd;
using Sparkle.Nn;
using Sparkle.Tensors;
using Sparkle.Tensors.Cpu;
using Sparkle.Tensors.Cpu.Conv;
using Sparkle.Tests.Support;
using Xunit;

namespace Sparkle.Tests.Nn;

/// <summary>How a test lays out an activation: every layout must give the same values.</summary>
public enum ActLayout { Contiguous, ChannelsLast, PaddedRows, SteppedW, ChannelsLastPadded }

/// <summary>Functional.Conv2d / ConvTranspose2d and the CPU conv kernels: against naive float64 loops, finite
/// differences and PyTorch golden values, in every layout, and bit-identical for 1 and 2 threads.</summary>
public class ConvTests
{
    private static readonly ActLayout[] Layouts = Enum.GetValues<ActLayout>();

    /// <summary>A contiguous tensor of random values in [-2, 2] (as TensorGen.Random, built from an array: faster for big shapes).</summary>
    internal static Tensor Rand(Random rng, int[] shape, DType dt)
    {
        var v = new double[ShapeUtil.NumElements(shape)];
        for (int i = 0; i < v.Length; i++) v[i] = Math.Round(rng.NextDouble() * 4 - 2, 6);
        return Tensor.FromArray(v, shape).To(dt);
    }

    /// <summary>A random (N, C, H, W) tensor in the given layout (views of a larger or permuted base).</summary>
    internal static Tensor Activation(Random rng, int[] s, DType dt, ActLayout layout)
    {
        int n = s[0], c = s[1], h = s[2], w = s[3];
        return layout switch
        {
            ActLayout.ChannelsLast => Rand(rng, [n, h, w, c], dt).Permute(0, 3, 1, 2),
            ActLayout.PaddedRows => Rand(rng, [n, c + 1, h + 2, w + 3], dt).Narrow(1, 1, c).Narrow(2, 1, h).Narrow(3, 2, w),
            ActLayout.SteppedW => Rand(rng, [n, c, h, 2 * w], dt).Slice(3, 0, 2 * w, 2),
            ActLayout.ChannelsLastPadded => Rand(rng, [n, h, w + 1, c + 2], dt).Narrow(3, 1, c).Narrow(2, 0, w).Permute(0, 3, 1, 2),
            _ => Rand(rng, s, dt),
        };
    }

    /// <summary>A weight, contiguous or with channels-last (OHWI) strides.</summary>
    internal static Tensor Weight(Random rng, int[] s, DType dt)
        => rng.Next(2) == 0 ? Rand(rng, s, dt) : Rand(rng, [s[0], s[2], s[3], s[1]], dt).Permute(0, 3, 1, 2);

    /// <summary>Normwise relative error max|a − e| / max|e| within tol.</summary>
    internal static void Near(double[] expected, Tensor actual, double tol, string what)
    {
        var a = actual.ToDoubleArray();
        Assert.True(a.Length == expected.Length, $"{what}: {a.Length} elements, expected {expected.Length}");
        double err = 0, scale = 0;
        for (int i = 0; i < a.Length; i++) { err = Math.Max(err, Math.Abs(a[i] - expected[i])); scale = Math.Max(scale, Math.Abs(expected[i])); }
        Assert.True(err <= tol * Math.Max(scale, 1e-300) || err == 0, $"{what}: max error {err:G3} vs max |expected| {scale:G3} (tolerance {tol:G2} relative)");
    }

    internal static double Tol(DType dt) => dt == DType.Float32 ? 3e-5 : 1e-12;

    /// <summary>Forward and all three gradients (through Backward with a random output gradient) against the loops,
    /// run by <paramref name="cpu"/> (default: the host's best kernels): the input lives on it, and a convolution and
    /// its backward run on the backend of their input.</summary>
    internal static void CheckCase(Random rng, ConvCase k, DType dt, ActLayout xLayout, bool clGrad, CpuBackend? cpu = null)
    {
        var x = (cpu ?? CpuBackend.Instance).Adopt(Activation(rng, k.XShape, dt, xLayout)).RequireGrad();
        var w = Weight(rng, k.WShape, dt).RequireGrad();
        var b = k.Bias ? Rand(rng, [k.O], dt).RequireGrad() : null;
        var dy = Activation(rng, k.YShape, dt, clGrad ? ActLayout.ChannelsLast : ActLayout.Contiguous);
        var y = Functional.Conv2d(x, w, b, [k.SH, k.SW], [k.PH, k.PW], [k.DH, k.DW], k.G);
        string what = $"{k} {dt.Name()} x:{xLayout}";
        Check.Shape(y, k.YShape);
        double[] xv = x.ToDoubleArray(), wv = w.ToDoubleArray(), dyv = dy.ToDoubleArray();
        Near(ConvReference.Forward(k, xv, wv, b?.ToDoubleArray()), y, Tol(dt), what + " forward");
        y.Backward(dy);
        var (dx, dw, db) = ConvReference.Backward(k, xv, wv, dyv);
        Near(dx, x.Grad!, Tol(dt), what + " grad input");
        Near(dw, w.Grad!, Tol(dt), what + " grad weight");
        if (b is not null) Near(db, b.Grad!, Tol(dt), what + " grad bias");
    }

    /// <summary>Which kernels a case runs: the default choice of this host, the direct kernels (slab, depthwise) of the
    /// Avx2, V128 or Avx512 family (slab kernels at that family's width), or the packed-GEMM path with each family's
    /// micro-kernel. Families the host lacks run emulated (Avx512 on AVX2 machines: correct, slow).</summary>
    public enum KernelPath { Default, Gemm256, GemmScalar, Gemm512, Gemm128, Direct256, Direct128, Direct512 }

    /// <summary>The CPU backend that runs <paramref name="path"/>: its kernel options, as a value.</summary>
    internal static CpuBackend Cpu(KernelPath path) => CpuBackend.WithOptions(new CpuKernelOptions
    {
        ConvDirect = path is KernelPath.Default or KernelPath.Direct256 or KernelPath.Direct128 or KernelPath.Direct512,
        Isa = path switch
        {
            KernelPath.Gemm256 or KernelPath.Direct256 => CpuIsa.Avx2,
            KernelPath.Gemm128 or KernelPath.Direct128 => CpuIsa.V128,
            KernelPath.GemmScalar => CpuIsa.Scalar,
            KernelPath.Gemm512 or KernelPath.Direct512 => CpuIsa.Avx512,
            _ => CpuIsa.Auto,
        },
    });

    [Property(MaxTest = 60)]
    public void Conv2dMatchesReferenceLoops(long seed)
    {
        var rng = new SeededRandom(seed);
        var k = ConvCase.Random(rng, depthwise: rng.Next(4) == 0);
        var dt = rng.Next(3) == 0 ? DType.Float32 : DType.Float64;
        var path = (KernelPath)rng.Next(8);
        if (path is KernelPath.Gemm512 or KernelPath.Direct512 && k.N * k.C * k.H * k.W * k.O > 3000) path = KernelPath.Gemm256;
        CheckCase(rng, k, dt, Layouts[rng.Next(Layouts.Length)], rng.Next(2) == 0, Cpu(path));
    }

    /// <summary>The depthwise kernels at 256 bits (Avx2, Avx512) and at 128 (V128, Scalar), each forced.</summary>
    [Property(MaxTest = 20)]
    public void DepthwiseMatchesReferenceLoops(long seed)
    {
        var rng = new SeededRandom(seed);
        var k = ConvCase.Random(rng, maxHW: 14, depthwise: true) with { Og = 1 };
        var path = rng.Next(2) == 0 ? KernelPath.Direct256 : KernelPath.Direct128;
        CheckCase(rng, k, rng.Next(2) == 0 ? DType.Float32 : DType.Float64, Layouts[rng.Next(Layouts.Length)], rng.Next(2) == 0, Cpu(path));
    }

    /// <summary>The depthwise kernels compute each output lane with the same taps in the same order at both widths:
    /// the 128-bit kernels give the 256-bit kernels' bits, forward and input gradient, both layouts. (The weight
    /// gradient sums over pixels in vector lanes when it vectorises along rows, so its order follows the width; the
    /// reference test checks it at both.)</summary>
    [Property(MaxTest = 12)]
    public void DepthwiseWidthsAgreeBitwise(long seed)
    {
        var rng = new SeededRandom(seed);
        var k = ConvCase.Random(rng, maxHW: 14, depthwise: true) with { Og = 1 };
        var dt = rng.Next(2) == 0 ? DType.Float32 : DType.Float64;
        var layout = Layouts[rng.Next(Layouts.Length)];
        var x0 = Activation(rng, k.XShape, dt, layout);
        var w0 = Weight(rng, k.WShape, dt);
        var dy = Activation(rng, k.YShape, dt, rng.Next(2) == 0 ? ActLayout.ChannelsLast : ActLayout.Contiguous);
        (long[] Y, long[] Dx) Run(KernelPath path)
        {
            var x = Cpu(path).Adopt(x0).RequireGrad();
            var w = Cpu(path).Adopt(w0).RequireGrad();
            var y = Functional.Conv2d(x, w, null, [k.SH, k.SW], [k.PH, k.PW], [k.DH, k.DW], k.G);
            var yBits = ElementwiseReference.Bits(y);
            y.Backward(dy);
            return (yBits, ElementwiseReference.Bits(x.Grad!));
        }
        var (wide, narrow) = (Run(KernelPath.Direct256), Run(KernelPath.Direct128));
        string what = $"{k} {dt.Name()} x:{layout}";
        Assert.True(wide.Y.SequenceEqual(narrow.Y), what + " forward");
        Assert.True(wide.Dx.SequenceEqual(narrow.Dx), what + " grad input");
    }

    /// <summary>Sizes past one k block (K = 360 > 256), one A block (150 > 144 rows), several pixel chunks, groups.</summary>
    [Theory]
    [InlineData(ActLayout.Contiguous, 1)]
    [InlineData(ActLayout.ChannelsLast, 1)]
    [InlineData(ActLayout.Contiguous, 2)]
    [InlineData(ActLayout.ChannelsLast, 2)]
    public void BlockedSizesMatchReference(ActLayout layout, int groups)
    {
        foreach (var path in new[] { KernelPath.Direct256, KernelPath.Direct128, KernelPath.Direct512, KernelPath.Gemm256, KernelPath.Gemm128 })
        {
            var rng = new Random(7 + groups);
            var k = new ConvCase(1, groups, 40, 150 / groups, 7, 13, 3, 3, 1, 1, 1, 1, 1, 1, true);
            CheckCase(rng, k, DType.Float32, layout, layout == ActLayout.ChannelsLast, Cpu(path));
            CheckCase(rng, k with { SH = 2, SW = 2 }, DType.Float64, layout, false, Cpu(path));
        }
    }

    /// <summary>Large enough for several bands, slices and k blocks in every kernel, including depthwise and the stem shape.</summary>
    [Theory]
    [InlineData(ActLayout.Contiguous)]
    [InlineData(ActLayout.ChannelsLast)]
    public void LargerShapesMatchReference(ActLayout layout)
    {
        var rng = new Random(11);
        CheckCase(rng, new ConvCase(2, 1, 3, 16, 45, 38, 7, 7, 2, 2, 3, 3, 1, 1, false), DType.Float32, layout, false);
        CheckCase(rng, new ConvCase(2, 12, 1, 1, 40, 37, 7, 7, 1, 1, 3, 3, 1, 1, true), DType.Float32, layout, layout == ActLayout.ChannelsLast);
        CheckCase(rng, new ConvCase(1, 10, 1, 1, 33, 30, 3, 3, 2, 2, 1, 1, 1, 1, true), DType.Float64, layout, false);
    }

    [Property(MaxTest = 30)]
    public void ConvTranspose2dMatchesScatterReference(long seed)
    {
        var rng = new SeededRandom(seed);
        int groups = rng.Next(1, 3), cin = groups * rng.Next(1, 4), coutG = rng.Next(1, 4), n = rng.Next(1, 3);
        int kh = rng.Next(1, 5), kw = kh, s = rng.Next(1, 4), d = rng.Next(1, 3), p = rng.Next(0, 2), op = rng.Next(0, Math.Max(s, d));
        int h = rng.Next(1, 6), w = rng.Next(1, 6);
        if ((h - 1) * s - 2 * p + d * (kh - 1) + op + 1 <= 0 || (w - 1) * s - 2 * p + d * (kw - 1) + op + 1 <= 0) return;
        var dt = rng.Next(3) == 0 ? DType.Float32 : DType.Float64;
        var x = Activation(rng, [n, cin, h, w], dt, Layouts[rng.Next(Layouts.Length)]).RequireGrad();
        var wt = Weight(rng, [cin, coutG, kh, kw], dt).RequireGrad();
        var b = rng.Next(2) == 0 ? Rand(rng, [coutG * groups], dt).RequireGrad() : null;
        var y = Functional.ConvTranspose2d(x, wt, b, s, p, op, groups, d);
        var gy = Rand(rng, y.ShapeArray(), dt);
        var r = ConvReference.Transposed(n, cin, h, w, coutG, groups, kh, kw, s, p, op, d, x.ToDoubleArray(), wt.ToDoubleArray(), b?.ToDoubleArray(), gy.ToDoubleArray());
        string what = $"convT x({n},{cin},{h},{w}) w({cin},{coutG},{kh},{kw}) s={s} p={p} op={op} d={d} g={groups} {dt.Name()}";
        Near(r.Y, y, Tol(dt), what + " forward");
        y.Backward(gy);
        Near(r.Dx, x.Grad!, Tol(dt), what + " grad input");
        Near(r.Dw, wt.Grad!, Tol(dt), what + " grad weight");
        if (b is not null) Near(r.Db, b.Grad!, Tol(dt), what + " grad bias");
    }

    // ---- finite differences (Autograd's GradCheck) ----

    [Property(MaxTest = 25)]
    public void Conv2dGradCheck(long seed)
    {
        var rng = new SeededRandom(seed);
        var k = ConvCase.Random(rng, maxCg: 2, maxHW: 4, depthwise: rng.Next(4) == 0) with { N = rng.Next(1, 3) };
        var x = GradGen.Leaf(rng, k.XShape);
        var w = GradGen.Leaf(rng, k.WShape);
        var inputs = k.Bias ? new[] { x, w, GradGen.Leaf(rng, [k.O]) } : new[] { x, w };
        // Sometimes only some inputs require grad: the others' gradients must not be needed.
        if (rng.Next(4) == 0) inputs[rng.Next(inputs.Length)].RequiresGrad = false;
        if (!inputs.Any(t => t.RequiresGrad)) return;
        GradGen.AssertGrads($"conv2d {k}", t => Functional.Conv2d(t[0], t[1], k.Bias ? t[2] : null, [k.SH, k.SW], [k.PH, k.PW], [k.DH, k.DW], k.G), inputs);
    }

    [Property(MaxTest = 20)]
    public void ConvTranspose2dGradCheck(long seed)
    {
        var rng = new SeededRandom(seed);
        int groups = rng.Next(1, 3), cin = groups * rng.Next(1, 3), coutG = rng.Next(1, 3);
        int kh = rng.Next(1, 4), kw = rng.Next(1, 4), s = rng.Next(1, 3), d = rng.Next(1, 3), p = rng.Next(0, 2), op = rng.Next(0, Math.Max(s, d));
        int h = rng.Next(1, 4), w = rng.Next(1, 4);
        if ((h - 1) * s - 2 * p + d * (kh - 1) + op + 1 <= 0 || (w - 1) * s - 2 * p + d * (kw - 1) + op + 1 <= 0) return;
        bool bias = rng.Next(2) == 0;
        var x = GradGen.Leaf(rng, [rng.Next(1, 3), cin, h, w]);
        var wt = GradGen.Leaf(rng, [cin, coutG, kh, kw]);
        var inputs = bias ? new[] { x, wt, GradGen.Leaf(rng, [coutG * groups]) } : new[] { x, wt };
        GradGen.AssertGrads($"conv_transpose2d s={s} p={p} op={op} d={d} g={groups}",
            t => Functional.ConvTranspose2d(t[0], t[1], bias ? t[2] : null, [s, s], [p, p], [op, op], groups, [d, d]), inputs);
    }

    // ---- PyTorch golden values ----

    public static TheoryData<string, string> GoldenCases()
    {
        var data = new TheoryData<string, string>();
        foreach (var file in new[] { "conv2d", "conv_transpose2d" })
            foreach (var name in Metadata(file).Keys.Where(k => !k.StartsWith('_')))
                data.Add(file, name);
        return data;
    }

    [Theory]
    [MemberData(nameof(GoldenCases))]
    public void MatchesPyTorchGolden(string file, string name)
    {
        var g = Golden.Open(file + ".safetensors", name);
        int[] Ints(string key) => g.Ints(key);
        int groups = g.Meta.GetProperty("groups").GetInt32();
        bool hasBias = g.Bool("bias");
        Assert.Equal(hasBias, g.Has("bias"));
        foreach (var dt in new[] { DType.Float64, DType.Float32 })
            foreach (var layout in new[] { ActLayout.Contiguous, ActLayout.ChannelsLast })
            {
                Tensor Load(string key, bool leaf = true)
                {
                    var e = g[key];
                    var t = Tensor.FromArray(e.Values, e.Shape).To(dt);
                    if (layout == ActLayout.ChannelsLast && e.Shape.Length == 4) t = t.Permute(0, 2, 3, 1).Contiguous().Permute(0, 3, 1, 2);
                    return leaf ? t.RequireGrad() : t;
                }
                var x = Load("x");
                var w = Load("weight");
                var b = hasBias ? Load("bias") : null;
                var y = file == "conv2d"
                    ? Functional.Conv2d(x, w, b, Ints("stride"), Ints("padding"), Ints("dilation"), groups)
                    : Functional.ConvTranspose2d(x, w, b, Ints("stride"), Ints("padding"), Ints("output_padding"), groups, Ints("dilation"));
                double tol = dt == DType.Float64 ? 1e-10 : 1e-4;
                string what = $"{name} {dt.Name()} {layout}";
                Near(g["out"].Values, y, tol, what + " out");
                y.Backward(Load("R", leaf: false));
                Near(g["grad_x"].Values, x.Grad!, tol, what + " grad_x");
                Near(g["grad_weight"].Values, w.Grad!, tol, what + " grad_weight");
                if (b is not null) Near(g["grad_bias"].Values, b.Grad!, tol, what + " grad_bias");
            }
        g.AssertAllRead();
    }

    /// <summary>The safetensors header's __metadata__ (case name to JSON hyper-parameters).</summary>
    private static Dictionary<string, string> Metadata(string file)
    {
        var bytes = File.ReadAllBytes(Path.Combine(Golden.Dir, file + ".safetensors"));
        long n = BinaryPrimitives.ReadInt64LittleEndian(bytes);
        using var doc = JsonDocument.Parse(bytes.AsMemory(8, (int)n));
        return doc.RootElement.GetProperty("__metadata__").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!);
    }

    // ---- determinism ----

    [Theory]
    [InlineData(ActLayout.Contiguous, 1, 24)]
    [InlineData(ActLayout.ChannelsLast, 1, 24)]
    [InlineData(ActLayout.Contiguous, 24, 24)]
    [InlineData(ActLayout.ChannelsLast, 24, 24)]
    [InlineData(ActLayout.Contiguous, 2, 24)]
    public void ResultsDoNotDependOnThreadCount(ActLayout layout, int groups, int channels)
    {
        var rng = new Random(3);
        var k = new ConvCase(3, groups, channels / groups, channels / groups, 17, 19, 3, 3, 1, 1, 1, 1, 1, 1, true);
        var x0 = Activation(rng, k.XShape, DType.Float32, layout);
        var w0 = Rand(rng, k.WShape, DType.Float32);
        var b0 = Rand(rng, [k.O], DType.Float32);
        var wt = Rand(rng, [k.C, k.Og, 4, 4], DType.Float32);
        var dy = Activation(rng, k.YShape, DType.Float32, layout);
        Threads.AssertSameOnOneAndTwo(() => ConvOutputs(x0, w0, b0, dy, 1, 1, groups, wt));
    }

    /// <summary>For thread-count checks: Conv2d forward and backward from fresh leaves (and, with <paramref name="wt"/>,
    /// a stride-2 ConvTranspose2d forward of the input): the output, the three gradients (and the transposed output).</summary>
    internal static float[][] ConvOutputs(Tensor x0, Tensor w0, Tensor b0, Tensor dy, int stride, int padding, int groups, Tensor? wt = null)
    {
        var x = x0.Detach().RequireGrad();
        var w = w0.Detach().RequireGrad();
        var b = b0.Detach().RequireGrad();
        var y = Functional.Conv2d(x, w, b, stride, padding, 1, groups);
        y.Backward(dy);
        float[][] outputs = [y.ToArray<float>(), x.Grad!.ToArray<float>(), w.Grad!.ToArray<float>(), b.Grad!.ToArray<float>()];
        return wt is null ? outputs : [.. outputs, Functional.ConvTranspose2d(x.Detach(), wt, null, 2, 1, 0, groups, 1).ToArray<float>()];
    }

    // ---- errors ----

    [Fact]
    public void ShapeErrorsNameBothShapes()
    {
        var x = Tensor.Zeros([2, 6, 8, 8]);
        var e = Assert.Throws<ArgumentException>(() => Functional.Conv2d(x, Tensor.Zeros([4, 5, 3, 3])));
        Assert.Contains("(2, 6, 8, 8)", e.Message);
        Assert.Contains("(4, 5, 3, 3)", e.Message);
        e = Assert.Throws<ArgumentException>(() => Functional.Conv2d(x, Tensor.Zeros([4, 3, 3, 3]), groups: 4));
        Assert.Contains("(2, 6, 8, 8)", e.Message);
        Assert.Contains("(4, 3, 3, 3)", e.Message);
        e = Assert.Throws<ArgumentException>(() => Functional.Conv2d(x, Tensor.Zeros([4, 6, 9, 9])));
        Assert.Contains("(4, 6, 9, 9)", e.Message);
        e = Assert.Throws<ArgumentException>(() => Functional.Conv2d(x, Tensor.Zeros([4, 6, 3, 3]), Tensor.Zeros([5])));
        Assert.Contains("(5)", e.Message);
        e = Assert.Throws<ArgumentException>(() => Functional.ConvTranspose2d(x, Tensor.Zeros([5, 2, 3, 3])));
        Assert.Contains("(2, 6, 8, 8)", e.Message);
        Assert.Contains("(5, 2, 3, 3)", e.Message);
        Assert.Throws<ArgumentException>(() => Functional.ConvTranspose2d(x, Tensor.Zeros([6, 2, 3, 3]), null, 2, 1, outputPadding: 2));
        var ie = Assert.Throws<InvalidOperationException>(() => Functional.Conv2d(x, Tensor.Zeros([4, 6, 3, 3], DType.Float64)));
        Assert.Contains("(4, 6, 3, 3)", ie.Message);
    }

    [Fact]
    public void UnbatchedInputAndChannelsLastOutput()
    {
        var rng = new Random(5);
        var x = Rand(rng, [3, 6, 5], DType.Float64);
        var w = Rand(rng, [4, 3, 3, 3], DType.Float64);
        var y = Functional.Conv2d(x, w, padding: 1);
        Check.Shape(y, 4, 6, 5);
        Near(Functional.Conv2d(x.Unsqueeze(0), w, padding: 1).ToDoubleArray(), y, 0, "unbatched");
        var cl = Functional.Conv2d(x.Unsqueeze(0).Permute(0, 2, 3, 1).Contiguous().Permute(0, 3, 1, 2), w, padding: 1);
        Assert.Equal(1, cl.Stride(1)); // channels-last in, channels-last out
        Near(y.ToDoubleArray(), cl, 1e-14, "channels-last");
    }
}
