using Sparkle.Nn;
using Sparkle.Tensors;
using Sparkle.Tensors.Cpu;
using Sparkle.Tensors.Cpu.Conv;
using Sparkle.Tests.Support;
using Xunit;
using static Sparkle.Tests.Nn.ConvTests;

namespace Sparkle.Tests.Nn;

/// <summary>The slab convolution family at every vector width (Vector512, Vector256, Vector128: one generic
/// implementation, forced through <see cref="CpuKernelOptions.Isa"/>, so the host's own width does not matter;
/// Vector512 runs emulated on AVX2 hosts): forward, input gradient and weight gradient of the ResNet shapes against the
/// reference loops, and the widths' bits against each other where the summation order is the same.</summary>
public class ConvSlabTests
{
    public static readonly KernelPath[] Widths = [KernelPath.Direct512, KernelPath.Direct256, KernelPath.Direct128];

    /// <summary>Shapes of the slab path: output channels below, at and past one register tile at each width (NR = 8, 16,
    /// 32 float), pixel counts that leave partial tiles of 6 and 12, K past one k block (1152 > 1024, in the forward and the
    /// input gradient), groups and dilation.</summary>
    private static readonly Dictionary<string, ConvCase> Cases = new()
    {
        ["3x3s1"] = new(2, 1, 20, 40, 13, 11, 3, 3, 1, 1, 1, 1, 1, 1, true),
        ["3x3s1_k1152"] = new(1, 1, 128, 128, 6, 7, 3, 3, 1, 1, 1, 1, 1, 1, false),
        ["3x3s2"] = new(2, 1, 16, 36, 14, 15, 3, 3, 2, 2, 1, 1, 1, 1, false),
        ["stem7x7s2"] = new(1, 1, 3, 32, 30, 29, 7, 7, 2, 2, 3, 3, 1, 1, false),
        ["grouped_dilated"] = new(1, 2, 8, 16, 12, 12, 3, 3, 1, 1, 2, 2, 2, 2, true),
    };

    public static TheoryData<KernelPath, string, ActLayout> SlabCases()
    {
        var data = new TheoryData<KernelPath, string, ActLayout>();
        foreach (var path in Widths)
            foreach (var name in Cases.Keys)
                foreach (var layout in new[] { ActLayout.Contiguous, ActLayout.ChannelsLast })
                    data.Add(path, name, layout);
        return data;
    }

    private static string Width(KernelPath path) => path switch
    {
        KernelPath.Direct512 => "Vector512",
        KernelPath.Direct256 => "Vector256",
        _ => "Vector128",
    };

    /// <summary>Forward, input and weight gradients (and the bias gradient) against the float64 loops, in float32 and float64 (NR = 16 double at 512); the plan must name
    /// the slab kernel at the forced width for the forward and the input gradient.</summary>
    [Theory]
    [MemberData(nameof(SlabCases))]
    public void SlabMatchesReferenceAtEveryWidth(KernelPath path, string name, ActLayout layout)
    {
        var k = Cases[name];
        var cpu = Cpu(path);
        var g = new ConvGeometry(k.XShape, k.WShape, k.YShape, new(k.SH, k.SW, k.PH, k.PW, k.DH, k.DW, k.G));
        var (x, y) = (Activation(new Random(0), k.XShape, DType.Float32, layout), Activation(new Random(0), k.YShape, DType.Float32, layout));
        Assert.StartsWith($"Slab {Width(path)} ", ConvPlan.Forward(g, x, y, cpu.Options).ToString());
        Assert.StartsWith($"Slab {Width(path)} ", ConvPlan.BackwardInput(g, y, x, cpu.Options).ToString());
        var rng = new Random(name.Length * 31 + (int)layout);
        CheckCase(rng, k, DType.Float32, layout, layout == ActLayout.ChannelsLast, cpu);
        CheckCase(rng, k, DType.Float64, layout, false, cpu);
    }

    /// <summary>ConvTranspose2d(c, o, 4, stride 2, padding 1) — the SparK decoder's upsampling: its forward is the slab
    /// input gradient split into 4 stride phases of 4 taps each, its input gradient the slab forward at stride 2.</summary>
    [Theory]
    [InlineData(KernelPath.Direct512, ActLayout.Contiguous)]
    [InlineData(KernelPath.Direct512, ActLayout.ChannelsLast)]
    [InlineData(KernelPath.Direct256, ActLayout.Contiguous)]
    [InlineData(KernelPath.Direct256, ActLayout.ChannelsLast)]
    [InlineData(KernelPath.Direct128, ActLayout.Contiguous)]
    [InlineData(KernelPath.Direct128, ActLayout.ChannelsLast)]
    public void ConvTranspose4x4s2MatchesScatterReference(KernelPath path, ActLayout layout)
    {
        var rng = new Random(17 + (int)layout);
        int n = 2, cin = 24, h = 7, w = 8, cout = 34;
        var x = Cpu(path).Adopt(Activation(rng, [n, cin, h, w], DType.Float32, layout)).RequireGrad();
        var wt = Weight(rng, [cin, cout, 4, 4], DType.Float32).RequireGrad();
        var b = Rand(rng, [cout], DType.Float32).RequireGrad();
        var y = Functional.ConvTranspose2d(x, wt, b, 2, 1, 0, 1, 1);
        var gy = Activation(rng, y.ShapeArray(), DType.Float32, layout);
        var r = ConvReference.Transposed(n, cin, h, w, cout, 1, 4, 4, 2, 1, 0, 1, x.ToDoubleArray(), wt.ToDoubleArray(), b.ToDoubleArray(), gy.ToDoubleArray());
        string what = $"convT 4x4/2 {path} {layout}";
        Near(r.Y, y, Tol(DType.Float32), what + " forward");
        y.Backward(gy);
        Near(r.Dx, x.Grad!, Tol(DType.Float32), what + " grad input");
        Near(r.Dw, wt.Grad!, Tol(DType.Float32), what + " grad weight");
        Near(r.Db, b.Grad!, Tol(DType.Float32), what + " grad bias");
    }

    /// <summary>Every width sums each output element over the same k steps in the same order (tiles differ only in which
    /// pixels and channels share registers; the k block is 256 steps at every width), so forward and input gradient give
    /// the same bits at 128, 256 and 512; the direct weight gradient sums each element over the pixels in the same order
    /// at every width (the slices of the pixel sum are a function of the shape), so it does too.</summary>
    [Theory]
    [InlineData("3x3s1", ActLayout.Contiguous)]
    [InlineData("3x3s1_k1152", ActLayout.ChannelsLast)]
    [InlineData("3x3s2", ActLayout.ChannelsLast)]
    [InlineData("stem7x7s2", ActLayout.Contiguous)]
    [InlineData("grouped_dilated", ActLayout.PaddedRows)]
    public void WidthsAgreeBitwise(string name, ActLayout layout)
    {
        var k = Cases[name];
        var rng = new Random(5);
        var x0 = Activation(rng, k.XShape, DType.Float32, layout);
        var w0 = Weight(rng, k.WShape, DType.Float32);
        var b0 = Rand(rng, [k.O], DType.Float32);
        var dy = Activation(rng, k.YShape, DType.Float32, layout);
        (long[] Y, long[] Dx, long[] Dw) Run(KernelPath path)
        {
            var x = Cpu(path).Adopt(x0).RequireGrad();
            var w = Cpu(path).Adopt(w0).RequireGrad();
            var y = Functional.Conv2d(x, w, b0, [k.SH, k.SW], [k.PH, k.PW], [k.DH, k.DW], k.G);
            var yBits = ElementwiseReference.Bits(y);
            y.Backward(dy);
            return (yBits, ElementwiseReference.Bits(x.Grad!), ElementwiseReference.Bits(w.Grad!));
        }
        var v256 = Run(KernelPath.Direct256);
        foreach (var path in new[] { KernelPath.Direct128, KernelPath.Direct512 })
        {
            var other = Run(path);
            Assert.True(v256.Y.SequenceEqual(other.Y), $"{name} {layout} forward: {path} differs from Direct256");
            Assert.True(v256.Dx.SequenceEqual(other.Dx), $"{name} {layout} grad input: {path} differs from Direct256");
            Assert.True(v256.Dw.SequenceEqual(other.Dw), $"{name} {layout} grad weight: {path} differs from Direct256");
        }
    }
}
