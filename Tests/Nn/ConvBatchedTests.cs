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

/// <summary>The batched im2col + GEMM path (<see cref="BatchedConv{T}"/>), forced on, against the naive float64 loops:
/// forward, input and weight gradients, every layout, strides, kernel sizes, padding, dilation, groups, bias, several
/// chunks per batch (a small chunk budget), 1 vs 2 threads bit-identical, and the shapes ConvPlan sends to it.</summary>
public class ConvBatchedTests
{
    /// <summary>The CPU backend with the batched path forced, a chunk budget of <paramref name="budget"/> bytes
    /// (0 = default) and the given GEMM micro-kernel.</summary>
    private static CpuBackend Batched(long budget = 0, CpuIsa isa = CpuIsa.Auto)
        => CpuBackend.WithOptions(new CpuKernelOptions { ConvBatched = true, ConvBatchedChunkBytes = budget, Isa = isa });

    private static readonly ActLayout[] Layouts = Enum.GetValues<ActLayout>();

    [Property(MaxTest = 50)]
    public void RandomCasesMatchReference(long seed)
    {
        var rng = new SeededRandom(seed);
        var k = ConvCase.Random(rng, maxCg: 5);
        var dt = rng.Next(2) == 0 ? DType.Float32 : DType.Float64;
        // Budget: one image per chunk, a few, or everything in one chunk.
        long perImage = (long)k.OH * k.OW * k.Cg * k.KH * k.KW * (dt == DType.Float32 ? 4 : 8);
        long budget = rng.Next(3) switch { 0 => 1, 1 => perImage * 2, _ => 0 };
        var isa = rng.Next(3) switch { 0 => CpuIsa.Scalar, 1 => CpuIsa.V128, _ => CpuIsa.Auto };
        CheckCase(rng, k, dt, Layouts[rng.Next(Layouts.Length)], rng.Next(2) == 0, Batched(budget, isa));
    }

    /// <summary>Fixed cases: k 1/3/4, strides 1/2, padding, dilation, groups, bias; 5 images cut into chunks of 2
    /// (2 + 2 + 1... the last one shorter: the budget is two images) or taken whole.</summary>
    [Theory]
    [InlineData(ActLayout.Contiguous, 1)]
    [InlineData(ActLayout.ChannelsLast, 1)]
    [InlineData(ActLayout.PaddedRows, 1)]
    [InlineData(ActLayout.ChannelsLastPadded, 2)]
    [InlineData(ActLayout.Contiguous, 3)]
    [InlineData(ActLayout.ChannelsLast, 2)]
    public void FixedCasesMatchReference(ActLayout layout, int groups)
    {
        var rng = new Random(17 + groups);
        var cases = new[]
        {
            new ConvCase(5, groups, 9, 10, 6, 6, 3, 3, 1, 1, 1, 1, 1, 1, true),   // 3x3 s1 p1
            new ConvCase(5, groups, 8, 7, 6, 7, 4, 4, 2, 2, 1, 1, 1, 1, false),  // k4 s2 p1 (ConvTranspose's conv)
            new ConvCase(5, groups, 11, 6, 3, 3, 1, 1, 1, 1, 0, 0, 1, 1, true),  // 1x1
            new ConvCase(5, groups, 6, 5, 7, 8, 3, 2, 2, 1, 2, 1, 2, 1, true),   // dilation, mixed strides and padding
        };
        foreach (var k in cases)
            foreach (var dt in new[] { DType.Float32, DType.Float64 })
            {
                long perImage = (long)k.OH * k.OW * k.Cg * k.KH * k.KW * (dt == DType.Float32 ? 4 : 8);
                foreach (long budget in new[] { 2 * perImage, 0L })
                    CheckCase(rng, k, dt, layout, layout is ActLayout.ChannelsLast or ActLayout.ChannelsLastPadded, Batched(budget));
            }
    }

    /// <summary>ConvTranspose2d (forward = the batched input gradient) against its scatter reference.</summary>
    [Theory]
    [InlineData(ActLayout.Contiguous, 1)]
    [InlineData(ActLayout.ChannelsLast, 1)]
    [InlineData(ActLayout.Contiguous, 2)]
    public void ConvTransposeMatchesScatterReference(ActLayout layout, int groups)
    {
        var rng = new Random(5);
        foreach (var dt in new[] { DType.Float32, DType.Float64 })
            foreach (var (k, s, p, op) in new[] { (4, 2, 1, 0), (3, 2, 1, 1), (2, 1, 0, 0) })
            {
                int n = 3, cin = 6 * groups, coutG = 5, h = 3, w = 4;
                var x = Batched(budget: 1).Adopt(Activation(rng, [n, cin, h, w], dt, layout)).RequireGrad();
                var wt = Weight(rng, [cin, coutG, k, k], dt).RequireGrad();
                var b = Rand(rng, [coutG * groups], dt).RequireGrad();
                var y = Functional.ConvTranspose2d(x, wt, b, s, p, op, groups, 1);
                var gy = Rand(rng, y.ShapeArray(), dt);
                var r = ConvReference.Transposed(n, cin, h, w, coutG, groups, k, k, s, p, op, 1, x.ToDoubleArray(), wt.ToDoubleArray(), b.ToDoubleArray(), gy.ToDoubleArray());
                string what = $"convT k{k} s{s} p{p} op{op} g{groups} {dt.Name()} {layout}";
                Near(r.Y, y, Tol(dt), what + " forward");
                y.Backward(gy);
                Near(r.Dx, x.Grad!, Tol(dt), what + " grad input");
                Near(r.Dw, wt.Grad!, Tol(dt), what + " grad weight");
                Near(r.Db, b.Grad!, Tol(dt), what + " grad bias");
            }
    }

    /// <summary>GEMMs large enough to thread, several chunks (the last one shorter): 1 and 2 threads give the same bits.</summary>
    [Theory]
    [InlineData(ActLayout.Contiguous, 1, 0L)]
    [InlineData(ActLayout.ChannelsLast, 1, 0L)]
    [InlineData(ActLayout.Contiguous, 1, 3L)]
    [InlineData(ActLayout.ChannelsLast, 1, 3L)]
    [InlineData(ActLayout.Contiguous, 2, 3L)]
    public void ResultsDoNotDependOnThreadCount(ActLayout layout, int groups, long imagesPerChunk)
    {
        var rng = new Random(9);
        var k = new ConvCase(7, groups, 96 / groups, 80 / groups, 6, 6, 3, 3, 1, 1, 1, 1, 1, 1, true);
        long budget = imagesPerChunk * k.OH * k.OW * k.Cg * k.KH * k.KW * 4;
        var x0 = Activation(rng, k.XShape, DType.Float32, layout);
        var w0 = Rand(rng, k.WShape, DType.Float32);
        var b0 = Rand(rng, [k.O], DType.Float32);
        var wt = Rand(rng, [k.C, k.Og, 4, 4], DType.Float32);
        var dy = Activation(rng, k.YShape, DType.Float32, layout);
        Threads.AssertSameOnOneAndTwo(() => ConvOutputs(Batched(budget).Adopt(x0), w0, b0, dy, 1, 1, groups, wt));
    }

    /// <summary>Scratch (column matrix, transposed weights and images, partial sums) lives in reused per-thread buffers:
    /// a steady-state call into preallocated outputs allocates only a few small objects (work-item delegates), not
    /// anything the size of its operands.</summary>
    [Theory]
    [InlineData(ActLayout.Contiguous)]
    [InlineData(ActLayout.ChannelsLast)]
    public void SteadyStateCallsAllocateOnlySmallObjects(ActLayout layout)
    {
        var rng = new Random(2);
        var k = new ConvCase(4, 1, 64, 64, 6, 6, 3, 3, 1, 1, 1, 1, 1, 1, false);
        var x = Activation(rng, k.XShape, DType.Float32, layout);
        var w = Rand(rng, k.WShape, DType.Float32);
        var dy = Activation(rng, k.YShape, DType.Float32, layout);
        var y = Activation(rng, k.YShape, DType.Float32, layout);
        var dx = Activation(rng, k.XShape, DType.Float32, layout);
        var dw = Rand(rng, k.WShape, DType.Float32);
        var p = new Conv2dParams(1, 1, 1, 1, 1, 1, 1);
        var cpu = Batched(budget: 2 * 36 * 576 * 4);
        void Step()
        {
            cpu.Conv2dForward(x, w, null, y, p);
            cpu.Conv2dBackwardInput(dy, w, dx, p);
            cpu.Conv2dBackwardWeight(dy, x, dw, p);
        }
        for (int i = 0; i < 3; i++) Step();
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10; i++) Step();
        long perStep = (GC.GetAllocatedBytesForCurrentThread() - before) / 10;
        // The column matrix alone is 4·36·576 floats = 330 KB.
        Assert.True(perStep < 8 * 1024, $"a steady-state step allocated {perStep} bytes");
    }

    /// <summary>The rule: the SparK decoder's and projections' small maps go batched, large maps and small weights do not.</summary>
    [Theory]
    [InlineData(768, 768, 4, 2, 1, 6, true)]     // up768: ConvTranspose 3x3 -> 6x6
    [InlineData(768, 768, 3, 1, 1, 6, true)]
    [InlineData(512, 768, 3, 1, 1, 3, true)]
    [InlineData(256, 384, 3, 1, 1, 6, true)]
    [InlineData(64, 64, 3, 1, 1, 56, false)]
    [InlineData(128, 128, 3, 1, 1, 28, false)]
    [InlineData(16, 16, 3, 1, 1, 6, false)]      // small weights: the slab kernels
    public void PlanPicksBatchedForSmallMapsWithLargeWeights(int cin, int cout, int k, int s, int p, int h, bool batched)
    {
        int oh = (h + 2 * p - k) / s + 1;
        var g = new ConvGeometry([32, cin, h, h], [cout, cin, k, k], [32, cout, oh, oh], new Conv2dParams(s, s, p, p, 1, 1, 1));
        Assert.Equal(batched, ConvPlan.UseBatched(g, CpuKernelOptions.Default));
    }
}
