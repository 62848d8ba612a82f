using FsCheck.Xunit;
using Sparkle.Sparse;
using Sparkle.Tensors;
using Sparkle.Tensors.Backend;
using Sparkle.Tensors.Cpu;
using Sparkle.Tests.Support;
using Xunit;
using static Sparkle.Tests.Sparse.SparseTestUtil;

namespace Sparkle.Tests.Sparse;

/// <summary>The fast kernels (depthwise planes, pointwise runs, implicit GEMM with the NCHW run scatter) forced on and
/// off (<see cref="SparseConvOptions.RowsOnly"/>): both
/// equal the masked-dense oracle (output, input, weight and bias gradients), float32 and float64, masked inputs of
/// any value (NaN and infinities included) are never read, and results do not depend on the thread count.</summary>
public class SparsePlaneKernelTests
{
    /// <summary>Kind 0: depthwise stride 1 "same" (plane kernel); 1: pointwise (channel-major runs); 2: an ungrouped
    /// k x k conv, stride 1 or 2 (implicit GEMM, NCHW run scatter).</summary>
    private sealed record Case(int N, int C, int O, int H, int W, int K, int D, int G, int F, bool Bias, DType DT, int S = 1)
    {
        public int P => D * (K - 1) / 2;
        public int OH => (H + 2 * P - D * (K - 1) - 1) / S + 1;
        public int OW => (W + 2 * P - D * (K - 1) - 1) / S + 1;

        public static Case Random(Random rng, int kind)
        {
            int f = rng.Next(1, 5);
            int h = f * rng.Next(1, 5), w = f * rng.Next(1, 6);   // widths that are and are not whole vectors
            if (rng.Next(3) == 0) { h = 7 * 8; w = 7 * 8; f = 7; }  // the SparK shape (patch 8 = one float vector)
            var dt = rng.Next(3) == 0 ? DType.Float64 : DType.Float32;
            if (kind == 1) return new Case(rng.Next(1, 4), rng.Next(1, 40), rng.Next(1, 40), h, w, 1, 1, 1, f, rng.Next(2) == 0, dt);
            if (kind == 2)
            {
                int s = rng.Next(1, 3), kk = new[] { 3, 3, 5, 7 }[rng.Next(4)];
                int dd = rng.Next(4) == 0 ? 2 : 1;
                return new Case(rng.Next(1, 4), rng.Next(1, 24), rng.Next(1, 40), h * s, w * s, kk, dd, 1, f, rng.Next(2) == 0, dt, s);
            }
            int k = new[] { 1, 3, 5, 7 }[rng.Next(4)];
            int d = k > 1 && rng.Next(3) == 0 ? 2 : 1;
            int c = rng.Next(1, 20);
            return new Case(rng.Next(1, 4), c, c, h, w, k, d, c, f, rng.Next(2) == 0, dt);
        }
    }

    private static Tensor?[] Run(Case k, Tensor x0, Tensor w0, Tensor? b0, Tensor v, bool sparse, bool fallback)
    {
        var options = new SparseConvOptions { RowsOnly = fallback };
        var x = CloneLike(x0).RequireGrad();
        var w = w0.Clone().RequireGrad();
        var b = b0?.Clone().RequireGrad();
        var y = sparse ? SparseOps.Conv2d(x, w, b, [k.S], [k.P], [k.D], k.G, options: options) : MaskedDense.Conv2d(x, w, b, [k.S], [k.P], [k.D], k.G);
        (y * v).Sum().Backward();
        return [y, x.Grad, w.Grad, b?.Grad];
    }

    [Property(MaxTest = 45)]
    public void PlaneAndRowPathsMatchTheOracle(long seed, byte kind)
    {
        var rng = new SeededRandom(seed);
        var k = Case.Random(rng, kind % 3);
        var mask = RandomMask(rng, k.N, k.F);
        var x0 = Activation(rng, k.N, k.C, k.H, k.W, k.DT, channelsLast: rng.Next(4) == 0);
        var w0 = TensorGen.Random(rng, [k.O, k.C / k.G, k.K, k.K], k.DT);
        var b0 = k.Bias ? TensorGen.Random(rng, [k.O], k.DT) : null;
        var v = TensorGen.Random(rng, [k.N, k.O, k.OH, k.OW], k.DT);
        using var ctx = SparseContext.Begin(mask);
        var expected = Run(k, x0, w0, b0, v, sparse: false, fallback: false);
        double tol = k.DT == DType.Float64 ? 1e-10 : 1e-4;
        string[] names = ["output", "grad input", "grad weight", "grad bias"];
        foreach (bool fallback in new[] { false, true })
        {
            var got = Run(k, x0, w0, b0, v, sparse: true, fallback);
            ZeroAtMasked(got[0]!, ctx, $"{k} fallback={fallback} output");
            ZeroAtMasked(got[1]!, ctx, $"{k} fallback={fallback} grad input");
            for (int i = 0; i < 4; i++)
                if (expected[i] is { } e) Near(e, got[i]!, tol, $"{k} fallback={fallback} {names[i]}");
        }
    }

    [Property(MaxTest = 12)]
    public void MaskedInputsAreNeverRead(long seed, byte kind)
    {
        var rng = new SeededRandom(seed);
        var k = Case.Random(rng, kind % 3);
        var mask = RandomMask(rng, k.N, k.F);
        using var ctx = SparseContext.Begin(mask);
        var m = ctx.DenseMask(k.H, k.W, k.DT);
        var mo = ctx.DenseMask(k.OH, k.OW, k.DT);
        var x0 = TensorGen.Random(rng, [k.N, k.C, k.H, k.W], k.DT) * m;
        var w0 = TensorGen.Random(rng, [k.O, k.C / k.G, k.K, k.K], k.DT);
        var v = TensorGen.Random(rng, [k.N, k.O, k.OH, k.OW], k.DT);
        // Poison at masked sites: NaN or infinities in the input and NaN in the output gradient (read only at active sites).
        var active = m.Gt(0.5);
        var xBad = Tensor.Where(active, x0, rng.Next(2) == 0 ? double.NaN : double.NegativeInfinity);
        var vBad = Tensor.Where(mo.Gt(0.5), v, double.NaN);
        var clean = Run(k, x0, w0, null, v, sparse: true, fallback: false);
        var bad = Run(k, xBad, w0, null, vBad, sparse: true, fallback: false);
        string[] names = ["output", "grad input", "grad weight"];
        for (int i = 0; i < 3; i++) Assert.True(clean[i]!.ToDoubleArray().SequenceEqual(bad[i]!.ToDoubleArray()), $"{k} {names[i]} read a masked site");
    }

    /// <summary>Changes the process-wide thread count, so it runs alone (ThreadCountCollection); nested to reach the cases.</summary>
    [Collection(nameof(ThreadCountCollection))]
    public class OnOneAndTwoThreads
    {
        [Property(MaxTest = 8)]
        public void IndependentOfThreadCount(long seed, byte kind)
        {
            var rng = new SeededRandom(seed);
            var k = Case.Random(rng, kind % 3) with { N = 3 };
            var mask = RandomMask(rng, k.N, k.F);
            var x0 = TensorGen.Random(rng, [k.N, k.C, k.H, k.W], k.DT);
            var w0 = TensorGen.Random(rng, [k.O, k.C / k.G, k.K, k.K], k.DT);
            var b0 = TensorGen.Random(rng, [k.O], k.DT);
            var v = TensorGen.Random(rng, [k.N, k.O, k.OH, k.OW], k.DT);
            double[] On(int threads) => Threads.With(threads, () =>
            {
                using var ctx = SparseContext.Begin(mask);
                var r = Run(k, x0, w0, b0, v, sparse: true, fallback: false);
                return (double[])[.. r[0]!.ToDoubleArray(), .. r[1]!.ToDoubleArray(), .. r[2]!.ToDoubleArray(), .. r[3]!.ToDoubleArray()];
            });
            Assert.Equal(On(1), On(2));
        }
    }
}
