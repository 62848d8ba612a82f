using FsCheck.Xunit;
using Sparkle.Sparse;
using Sparkle.Tensors;
using Sparkle.Tensors.Cpu;
using Sparkle.Tests.Support;
using Xunit;
using static Sparkle.Tests.Sparse.SparseTestUtil;

namespace Sparkle.Tests.Sparse;

/// <summary>The channels-first plane kernels (depthwise stride 1 "same", pointwise 1x1) forced on and off: both
/// equal the masked-dense oracle (output, input, weight and bias gradients), float32 and float64, masked inputs of
/// any value (NaN and infinities included) are never read, and results do not depend on the thread count.</summary>
public class SparsePlaneKernelTests
{
    private sealed record Case(int N, int C, int O, int H, int W, int K, int D, int G, int F, bool Bias, DType DT)
    {
        public int P => D * (K - 1) / 2;

        public static Case Random(Random rng, bool pointwise)
        {
            int f = rng.Next(1, 5);
            int h = f * rng.Next(1, 5), w = f * rng.Next(1, 6);   // widths that are and are not whole vectors
            if (rng.Next(3) == 0) { h = 7 * 8; w = 7 * 8; f = 7; }  // the SparK shape (patch 8 = one float vector)
            var dt = rng.Next(3) == 0 ? DType.Float64 : DType.Float32;
            if (pointwise) return new Case(rng.Next(1, 4), rng.Next(1, 40), rng.Next(1, 40), h, w, 1, 1, 1, f, rng.Next(2) == 0, dt);
            int k = new[] { 1, 3, 5, 7 }[rng.Next(4)];
            int d = k > 1 && rng.Next(3) == 0 ? 2 : 1;
            int c = rng.Next(1, 20);
            return new Case(rng.Next(1, 4), c, c, h, w, k, d, c, f, rng.Next(2) == 0, dt);
        }
    }

    private static Tensor?[] Run(Case k, Tensor x0, Tensor w0, Tensor? b0, Tensor v, bool sparse, bool noPlanes)
    {
        bool saved = SparseOps.Paths.NoPlanes;
        SparseOps.Paths.NoPlanes = noPlanes;
        try
        {
            var x = x0.Clone().RequireGrad();
            var w = w0.Clone().RequireGrad();
            var b = b0?.Clone().RequireGrad();
            var y = sparse ? SparseOps.Conv2d(x, w, b, [1], [k.P], [k.D], k.G) : MaskedDense.Conv2d(x, w, b, [1], [k.P], [k.D], k.G);
            (y * v).Sum().Backward();
            return [y, x.Grad, w.Grad, b?.Grad];
        }
        finally { SparseOps.Paths.NoPlanes = saved; }
    }

    [Property(MaxTest = 40)]
    public void PlaneAndRowPathsMatchTheOracle(int seed, bool pointwise)
    {
        var rng = new Random(seed);
        var k = Case.Random(rng, pointwise);
        var mask = RandomMask(rng, k.N, k.F);
        var x0 = TensorGen.Random(rng, [k.N, k.C, k.H, k.W], k.DT);
        var w0 = TensorGen.Random(rng, [k.O, k.C / k.G, k.K, k.K], k.DT);
        var b0 = k.Bias ? TensorGen.Random(rng, [k.O], k.DT) : null;
        var v = TensorGen.Random(rng, [k.N, k.O, k.H, k.W], k.DT);
        using var ctx = SparseContext.Begin(mask);
        var expected = Run(k, x0, w0, b0, v, sparse: false, noPlanes: false);
        double tol = k.DT == DType.Float64 ? 1e-10 : 1e-4;
        string[] names = ["output", "grad input", "grad weight", "grad bias"];
        foreach (bool noPlanes in new[] { false, true })
        {
            var got = Run(k, x0, w0, b0, v, sparse: true, noPlanes);
            ZeroAtMasked(got[0]!, ctx, $"{k} noPlanes={noPlanes} output");
            ZeroAtMasked(got[1]!, ctx, $"{k} noPlanes={noPlanes} grad input");
            for (int i = 0; i < 4; i++)
                if (expected[i] is { } e) Near(e, got[i]!, tol, $"{k} noPlanes={noPlanes} {names[i]}");
        }
    }

    [Property(MaxTest = 12)]
    public void MaskedInputsAreNeverRead(int seed, bool pointwise)
    {
        var rng = new Random(seed);
        var k = Case.Random(rng, pointwise);
        var mask = RandomMask(rng, k.N, k.F);
        using var ctx = SparseContext.Begin(mask);
        var m = ctx.DenseMask(k.H, k.W, k.DT);
        var x0 = TensorGen.Random(rng, [k.N, k.C, k.H, k.W], k.DT) * m;
        var w0 = TensorGen.Random(rng, [k.O, k.C / k.G, k.K, k.K], k.DT);
        var v = TensorGen.Random(rng, [k.N, k.O, k.H, k.W], k.DT);
        // Poison at masked sites: NaN or infinities in the input and NaN in the output gradient (read only at active sites).
        var active = m.Gt(0.5);
        var xBad = Tensor.Where(active, x0, rng.Next(2) == 0 ? double.NaN : double.NegativeInfinity);
        var vBad = Tensor.Where(active, v, double.NaN);
        var clean = Run(k, x0, w0, null, v, sparse: true, noPlanes: false);
        var bad = Run(k, xBad, w0, null, vBad, sparse: true, noPlanes: false);
        string[] names = ["output", "grad input", "grad weight"];
        for (int i = 0; i < 3; i++) Assert.True(clean[i]!.ToDoubleArray().SequenceEqual(bad[i]!.ToDoubleArray()), $"{k} {names[i]} read a masked site");
    }

    [Property(MaxTest = 8)]
    public void IndependentOfThreadCount(int seed, bool pointwise)
    {
        var rng = new Random(seed);
        var k = Case.Random(rng, pointwise) with { N = 3 };
        var mask = RandomMask(rng, k.N, k.F);
        var x0 = TensorGen.Random(rng, [k.N, k.C, k.H, k.W], k.DT);
        var w0 = TensorGen.Random(rng, [k.O, k.C / k.G, k.K, k.K], k.DT);
        var b0 = TensorGen.Random(rng, [k.O], k.DT);
        var v = TensorGen.Random(rng, [k.N, k.O, k.H, k.W], k.DT);
        int saved = IntraOpPool.NumThreads;
        var outs = new List<double[]>();
        try
        {
            foreach (int threads in new[] { 1, 2 })
            {
                IntraOpPool.NumThreads = threads;
                using var ctx = SparseContext.Begin(mask);
                var r = Run(k, x0, w0, b0, v, sparse: true, noPlanes: false);
                outs.Add([.. r[0]!.ToDoubleArray(), .. r[1]!.ToDoubleArray(), .. r[2]!.ToDoubleArray(), .. r[3]!.ToDoubleArray()]);
            }
        }
        finally { IntraOpPool.NumThreads = saved; }
        Assert.Equal(outs[0], outs[1]);
    }
}
