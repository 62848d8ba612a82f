using FsCheck.Xunit;
using Sparkle.Tensors;
using Sparkle.Tensors.Backend;
using Sparkle.Tensors.Cpu;
using Sparkle.Tensors.Cpu.Conv;
using Sparkle.Tests.Support;
using Xunit;
using static Sparkle.Tests.Nn.ConvTests;

namespace Sparkle.Tests.Nn;

/// <summary>Winograd F(2x2, 3x3) (<see cref="WinogradConv{T, TV, TS}"/>), forced on, against the naive float64 loops:
/// forward, input and weight gradients, in every layout and instruction set (its transforms at the family's width, the
/// GEMM with the family's micro-kernel), odd map sizes (partial edge tiles), paddings 0-2 per axis, channel counts
/// that leave vector tails, several chunks per batch, 1 vs 2 threads bit-identical, and the rule's choices.</summary>
public class ConvWinogradTests
{
    private static CpuBackend Winograd(CpuIsa isa, long budget = 0)
        => CpuBackend.WithOptions(new CpuKernelOptions { ConvWinograd = true, ConvBatchedChunkBytes = budget, Isa = isa });

    private static readonly ActLayout[] Layouts = Enum.GetValues<ActLayout>();

    private static ConvCase Case3x3(int n, int c, int o, int h, int w, int ph, int pw, bool bias)
        => new(n, 1, c, o, h, w, 3, 3, 1, 1, ph, pw, 1, 1, bias);

    public static TheoryData<CpuIsa, ActLayout> IsasAndLayouts()
    {
        var d = new TheoryData<CpuIsa, ActLayout>();
        foreach (var isa in new[] { CpuIsa.Avx512, CpuIsa.Avx2, CpuIsa.V128, CpuIsa.Scalar })
            foreach (var layout in Layouts) d.Add(isa, layout);
        return d;
    }

    [Theory]
    [MemberData(nameof(IsasAndLayouts))]
    public void FixedCasesMatchReference(CpuIsa isa, ActLayout layout)
    {
        var rng = new Random(31 + (int)isa * 7 + (int)layout);
        var cases = new[]
        {
            Case3x3(3, 9, 10, 6, 6, 1, 1, true),     // whole tiles
            Case3x3(2, 17, 19, 7, 9, 1, 1, false),   // odd map: partial edge tiles; vector tails in C and O
            Case3x3(2, 5, 6, 5, 4, 0, 0, true),      // no padding
            Case3x3(2, 6, 7, 4, 5, 2, 2, false),     // padding 2: the input gradient's padding is 0
            Case3x3(2, 8, 5, 6, 7, 0, 2, true),      // mixed padding
            Case3x3(1, 33, 16, 3, 3, 1, 1, true),    // the SparK decoder's smallest map
        };
        foreach (var k in cases)
            foreach (var dt in new[] { DType.Float32, DType.Float64 })
            {
                long perImage = 16L * ((k.OH + 1) / 2) * ((k.OW + 1) / 2) * Math.Max(k.C, k.O) * (dt == DType.Float32 ? 4 : 8);
                foreach (long budget in new[] { perImage, 0L })
                    CheckCase(rng, k, dt, layout, layout is ActLayout.ChannelsLast or ActLayout.ChannelsLastPadded, Winograd(isa, budget));
            }
    }

    [Property(MaxTest = 40)]
    public void RandomCasesMatchReference(long seed)
    {
        var rng = new SeededRandom(seed);
        int ph = rng.Next(0, 3), pw = rng.Next(0, 3);
        // At least one output pixel per axis: H + 2·P − 2 >= 1.
        var k = Case3x3(rng.Next(1, 4), rng.Next(1, 24), rng.Next(1, 24), rng.Next(Math.Max(1, 3 - 2 * ph), 12), rng.Next(Math.Max(1, 3 - 2 * pw), 12), ph, pw, rng.Next(2) == 0);
        var dt = rng.Next(2) == 0 ? DType.Float32 : DType.Float64;
        var isa = new[] { CpuIsa.Avx512, CpuIsa.Avx2, CpuIsa.V128, CpuIsa.Scalar }[rng.Next(4)];
        CheckCase(rng, k, dt, Layouts[rng.Next(Layouts.Length)], rng.Next(2) == 0, Winograd(isa, rng.Next(2) == 0 ? 1 : 0));
    }

    /// <summary>GEMMs large enough to thread and several chunks: 1 and 2 threads give the same bits.</summary>
    [Theory]
    [InlineData(ActLayout.Contiguous, 0L)]
    [InlineData(ActLayout.ChannelsLast, 0L)]
    [InlineData(ActLayout.ChannelsLast, 1L)]
    public void ResultsDoNotDependOnThreadCount(ActLayout layout, long budget)
    {
        var rng = new Random(9);
        var k = Case3x3(5, 72, 80, 7, 6, 1, 1, true);
        var x0 = Activation(rng, k.XShape, DType.Float32, layout);
        var w0 = Rand(rng, k.WShape, DType.Float32);
        var b0 = Rand(rng, [k.O], DType.Float32);
        var dy = Activation(rng, k.YShape, DType.Float32, layout);
        Threads.AssertSameOnOneAndTwo(() => ConvOutputs(Winograd(CpuIsa.Auto, budget).Adopt(x0), w0, b0, dy, 1, 1, 1));
    }

    /// <summary>The plan: Winograd only when asked, and only where it applies (3x3, stride 1, one group, padding <= 2).</summary>
    [Theory]
    [InlineData(768, 768, 3, 1, 1, 6, 1, true, true)]
    [InlineData(768, 768, 3, 1, 1, 6, 1, null, false)]
    [InlineData(64, 64, 3, 1, 1, 56, 1, false, false)]
    [InlineData(256, 256, 3, 2, 1, 14, 1, true, false)]
    [InlineData(256, 256, 3, 1, 1, 14, 2, true, false)]
    [InlineData(768, 768, 4, 2, 1, 6, 1, true, false)]
    [InlineData(64, 64, 3, 1, 3, 14, 1, true, false)]
    public void PlanPicksWinogradOnlyWhenAskedWhereItApplies(int cin, int cout, int k, int s, int p, int h, int groups, bool? asked, bool winograd)
    {
        int oh = (h + 2 * p - k) / s + 1;
        var g = new ConvGeometry([32, cin, h, h], [cout, cin / groups, k, k], [32, cout, oh, oh], new Conv2dParams(s, s, p, p, 1, 1, groups));
        var o = new CpuKernelOptions { ConvWinograd = asked };
        Assert.Equal(winograd, ConvPlan.UseWinograd(g, o));
        var (x, y) = (Tensor.Empty([1, cin, h, h]), Tensor.Empty([1, cout, oh, oh]));
        Assert.Equal(winograd, ConvPlan.Forward(g, x, y, o).Algorithm == ConvAlgorithm.Winograd);
    }
}
