using Sparkle.Autograd;
using Sparkle.Tensors;
using Sparkle.Tensors.Backend;
using Sparkle.Tests.Support;
using Xunit;

namespace Sparkle.Tests.Nn;

/// <summary>
/// The CPU optimizer kernels (Tensors/Cpu/Optim) against the seam composition they replace (SeamOptim: the optimizers'
/// former tensor-op code, op for op): bit for bit, float32 and float64, tensors of one to several summation chunks
/// (16,384 elements) with odd tails, every LAMB/AdamW/SGD branch, three steps, on 1 and 2 threads.
/// </summary>
[Collection(nameof(ThreadCountCollection))]
public class OptimKernelTests
{
    private static readonly int[][] Shapes = [[3, 5], [7], [40_001], [16_384], [1, 1], [2, 3, 3, 3]];

    private static Tensor[] Make(int seed, DType dtype, double scale = 1) =>
        Shapes.Select((s, i) => Tensor.Randn(s, new Generator((ulong)(seed * 31 + i))).Mul(scale).To(dtype)).ToArray();

    private static Tensor[] Clone(Tensor[] ts) => ts.Select(t => t.Clone()).ToArray();

    private static void AssertBits(Tensor[] expected, Tensor[] actual, string what)
    {
        for (int i = 0; i < expected.Length; i++)
            Assert.True(expected[i].ToDoubleArray().AsSpan().SequenceEqual(actual[i].ToDoubleArray()), $"{what}: tensor {i} differs");
    }

    public static TheoryData<DType, bool, double, bool, bool> LambCases()
    {
        var d = new TheoryData<DType, bool, double, bool, bool>();
        foreach (var dtype in new[] { DType.Float64, DType.Float32 })
            foreach (var (clip, wd, trustClip, always) in new[] { (true, 0.05, false, false), (false, 0.05, false, false), (true, 0.0, false, false),
                                                                 (true, 0.0, false, true), (true, 0.02, true, false), (false, 0.0, true, true) })
                d.Add(dtype, clip, wd, trustClip, always);
        return d;
    }

    [Theory]
    [MemberData(nameof(LambCases))]
    public void LambStepEqualsTheCompositionBitForBit(DType dtype, bool clip, double wd, bool trustClip, bool alwaysAdapt)
    {
        var kernel = Threads.With(2, () => RunLamb(dtype, clip, wd, trustClip, alwaysAdapt, composed: false));
        var one = Threads.With(1, () => RunLamb(dtype, clip, wd, trustClip, alwaysAdapt, composed: false));
        var composed = RunLamb(dtype, clip, wd, trustClip, alwaysAdapt, composed: true);
        AssertBits(composed, kernel, $"lamb {dtype.Name()} clip {clip} wd {wd}");
        AssertBits(kernel, one, "lamb on 1 vs 2 threads");
    }

    private static Tensor[] RunLamb(DType dtype, bool clip, double wd, bool trustClip, bool alwaysAdapt, bool composed)
    {
        var ps = Make(1, dtype);
        var ms = ps.Select(Tensor.ZerosLike).ToArray();
        var vs = ps.Select(Tensor.ZerosLike).ToArray();
        var backend = ps[0].Backend;
        var outputs = new List<Tensor>();
        for (int step = 1; step <= 3; step++)
        {
            var gs = Make(10 + step, dtype, 3);
            var slots = ps.Select((p, i) => new AdamSlot(p, gs[i], ms[i], vs[i])).ToList();
            Tensor? norm = null;
            if (clip)
            {
                var sumSq = Tensor.Empty([], dtype);
                if (composed) SeamOptim.SumOfSquares(gs, sumSq); else backend.SumOfSquares(gs, sumSq);
                norm = sumSq.Sqrt();
                outputs.Add(norm);
            }
            var hp = new LambStepParams(0.01 * step, 0.9, 0.95, 0.1, 1e-6, 1 - Math.Pow(0.9, step), 1 - Math.Pow(0.95, step), wd,
                trustClip, alwaysAdapt, MaxGradNorm: 5);
            if (composed) SeamOptim.LambStep(slots, hp, norm); else backend.LambStep(slots, hp, norm);
            outputs.AddRange(gs);
        }
        return [.. outputs, .. ps, .. ms, .. vs];
    }

    [Theory]
    [InlineData(DType.Float64, 0.0)]
    [InlineData(DType.Float64, 0.05)]
    [InlineData(DType.Float32, 0.0)]
    [InlineData(DType.Float32, 0.05)]
    public void AdamWStepEqualsTheCompositionBitForBit(DType dtype, double wd)
    {
        Tensor[] Run(bool composed)
        {
            var ps = Make(2, dtype);
            var ms = ps.Select(Tensor.ZerosLike).ToArray();
            var vs = ps.Select(Tensor.ZerosLike).ToArray();
            for (int step = 1; step <= 3; step++)
            {
                var gs = Make(20 + step, dtype, 2);
                var hp = new AdamWStepParams(0.01, 0.9, 0.999, 1e-8, 1 - Math.Pow(0.9, step), 1 - Math.Pow(0.999, step), wd);
                for (int i = 0; i < ps.Length; i++)
                {
                    var slot = new AdamSlot(ps[i], gs[i], ms[i], vs[i]);
                    if (composed) SeamOptim.AdamWStep(slot, hp); else ps[i].Backend.AdamWStep(slot, hp);
                }
            }
            return [.. ps, .. ms, .. vs];
        }
        AssertBits(Run(composed: true), Threads.With(2, () => Run(composed: false)), $"adamw {dtype.Name()} wd {wd}");
    }

    [Theory]
    [InlineData(DType.Float64, 0.0, 0.0, 0.0, false)]
    [InlineData(DType.Float64, 0.9, 0.0, 0.0, true)]
    [InlineData(DType.Float64, 0.9, 0.0, 0.01, true)]
    [InlineData(DType.Float64, 0.8, 0.3, 0.01, false)]
    [InlineData(DType.Float32, 0.0, 0.0, 0.02, false)]
    [InlineData(DType.Float32, 0.9, 0.0, 0.0, true)]
    [InlineData(DType.Float32, 0.9, 0.0, 0.01, true)]
    [InlineData(DType.Float32, 0.7, 0.1, 0.0, false)]
    public void SgdStepEqualsTheCompositionBitForBit(DType dtype, double momentum, double dampening, double wd, bool nesterov)
    {
        Tensor[] Run(bool composed)
        {
            var ps = Make(3, dtype);
            var bufs = ps.Select(Tensor.ZerosLike).ToArray();
            for (int step = 1; step <= 3; step++)
            {
                var gs = Make(30 + step, dtype);
                var hp = new SgdStepParams(0.1, momentum, dampening, wd, nesterov, FirstStep: step == 1);
                for (int i = 0; i < ps.Length; i++)
                {
                    var buf = momentum != 0 ? bufs[i] : null;
                    if (composed) SeamOptim.SgdStep(ps[i], gs[i], buf, hp); else ps[i].Backend.SgdStep(ps[i], gs[i], buf, hp);
                }
            }
            return [.. ps, .. bufs];
        }
        AssertBits(Run(composed: true), Threads.With(2, () => Run(composed: false)), $"sgd {dtype.Name()} momentum {momentum}");
    }

    [Theory]
    [InlineData(DType.Float64)]
    [InlineData(DType.Float32)]
    public void SumOfSquaresPerTensorAndTotalEqualTensorSumBitForBit(DType dtype)
    {
        var xs = Make(4, dtype, 2);
        var per = Tensor.Empty([xs.Length], dtype);
        var total = Tensor.Empty([], dtype);
        Threads.With(2, () => { xs[0].Backend.SumOfSquares(xs, per); xs[0].Backend.SumOfSquares(xs, total); return 0; });
        Tensor? fold = null;
        for (int i = 0; i < xs.Length; i++)
        {
            var s = xs[i].Mul(xs[i]).Sum();
            Assert.Equal(s.Item(), per.Narrow(0, i, 1).Item());
            fold = fold is null ? s : fold.Add(s);
        }
        Assert.Equal(fold!.Item(), total.Item());
    }

    /// <summary>SGD with momentum, Nesterov and weight decay used to allocate up to two parameter-sized temporaries per
    /// parameter; the fused kernel none (the momentum buffer is created once, on the first step).</summary>
    [Fact]
    public void AnSgdStepAllocatesNoParameterSizedTemporaries()
    {
        var p = Tensor.Randn([1000, 1000], new Generator(9)).RequireGrad();
        var opt = new Sparkle.Nn.Optim.Sgd([("w", p)], lr: 1e-3, momentum: 0.9, weightDecay: 0.05, nesterov: true);
        p.Grad = Tensor.Randn([1000, 1000], new Generator(10));
        opt.Step();
        long before = GC.GetAllocatedBytesForCurrentThread();
        opt.Step();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated < 1_000_000, $"sgd: a step over a 4 MB parameter allocated {allocated / 1e6:F1} MB");
    }

    /// <summary>Operands that are not contiguous (a transposed leaf and its gradient) take the seam composition inside the
    /// CPU backend; the result matches the same values stepped contiguously.</summary>
    [Fact]
    public void NonContiguousParametersTakeTheCompositionAndAgree()
    {
        var w = Tensor.Randn([5, 7], new Generator(1)).To(DType.Float64);
        var g = Tensor.Randn([5, 7], new Generator(2)).To(DType.Float64);
        var flat = w.Clone().RequireGrad();
        var strided = w.T.Contiguous().T.RequireGrad();                // same values, column-major strides
        Assert.False(strided.IsContiguous);
        foreach (var make in new Func<Tensor, Sparkle.Nn.Optim.Optimizer>[]
                 {
                     p => new Sparkle.Nn.Optim.Lamb([("w", p)], 0.01, weightDecay: 0.1),
                     p => new Sparkle.Nn.Optim.AdamW([("w", p)], 0.01),
                     p => new Sparkle.Nn.Optim.Sgd([("w", p)], 0.1, momentum: 0.9, weightDecay: 0.01),
                 })
        {
            var a = make(flat);
            var b = make(strided);
            for (int step = 0; step < 2; step++)
            {
                flat.Grad = g.Clone();
                strided.Grad = g.T.Contiguous().T;
                a.Step();
                b.Step();
                Check.Close(flat.ToDoubleArray(), strided, 1e-14, 1e-15, $"{a.Kind} step {step}");
            }
        }
    }
}
