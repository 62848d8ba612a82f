using FsCheck.Xunit;
using Sparkle.Nn;
using Sparkle.Tensors;
using Sparkle.Tensors.Backend;
using Sparkle.Tests.Support;
using Xunit;

namespace Sparkle.Tests.Gpu;

/// <summary>The device's batch-norm and max-pool kernels (IBackend.BatchNormTrainForward/Backward, MaxPool2dForward/Backward,
/// Gpu/Kernels/NormKernels.cs and PoolKernels.cs) against the CPU backend's: forward, backward and running statistics
/// through Functional, for planes and rows, every fused activation, with and without weight and bias, one group per
/// channel and the split statistics. Values sit exactly on the activations' boundaries (outputs 0 and 6), where a mask
/// with the wrong comparison would send a gradient the CPU does not.</summary>
[Collection(IlgpuCollection.Name)]
public class GpuNormPoolTests(IlgpuFixture gpu)
{
    private static (double R, double A) Tol(DType d) => d == DType.Float32 ? (1e-4, 1e-4) : (1e-11, 1e-11);

    /// <summary>Dyadic values symmetric about 0 in every channel, with zeros among them: sums are exact on every device,
    /// the batch mean is exactly 0, so an x of 0 gives y = bias exactly — 0 or 6 with the biases chosen here.</summary>
    private static Tensor BoundaryInput(Random rng, int[] shape, DType dtype)
    {
        int c = shape[1], inner = ShapeUtil.NumElements(shape) / (shape[0] * c), count = shape[0] * inner;
        var v = new double[ShapeUtil.NumElements(shape)];
        for (int ch = 0; ch < c; ch++)
            for (int j = 0; j + 1 < count; j += 2)
            {
                double d = j % 6 == 0 ? 0 : rng.Next(1, 24) / 4.0;     // some exact zeros, the rest ±d pairs
                v[Offset(j, ch, c, inner)] = d;
                v[Offset(j + 1, ch, c, inner)] = -d;
            }
        return Tensor.FromArray(v, shape).To(dtype);                   // an odd count leaves one 0 over
    }

    private static int Offset(int j, int ch, int c, int inner) => (j / inner * c + ch) * inner + j % inner;

    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public void BatchNormAgreesWithTheCpu(bool rows, bool split)
    {
        var b = gpu.Backend;
        var rng = new Random(rows ? 7 : 8);
        try
        {
            b.BatchNormSplitMinCount = split ? 1 : int.MaxValue;
            foreach (int g in split ? new[] { 4, 16 } : new[] { 1, 16 })
            {
                if (g > b.Accelerator.MaxNumThreadsPerGroup) continue;
                b.ReduceGroupSize = g;
                foreach (var dt in new[] { DType.Float64, DType.Float32 })
                    foreach (var act in new[] { Activation.None, Activation.Relu, Activation.Relu6 })
                        foreach (bool affine in new[] { true, false })
                        {
                            int[] shape = rows ? [rng.Next(5, 40), rng.Next(1, 5)] : [rng.Next(2, 4), rng.Next(1, 4), rng.Next(1, 5), rng.Next(2, 5)];
                            BatchNormCase(rng, shape, dt, act, affine, $"{(rows ? "rows" : "planes")} {ShapeUtil.Format(shape)} {dt.Name()} {act} affine={affine} group {g} split={split}");
                        }
            }
        }
        finally
        {
            b.BatchNormSplitMinCount = 4096;
            b.ReduceGroupSize = null;
        }
    }

    private void BatchNormCase(Random rng, int[] shape, DType dt, Activation act, bool affine, string what)
    {
        int c = shape[1];
        var x = BoundaryInput(rng, shape, dt);
        var w = Tensor.FromArray(Enumerable.Range(0, c).Select(_ => rng.Next(1, 9) / 4.0).ToArray()).To(dt);
        var bias = Tensor.FromArray(Enumerable.Range(0, c).Select(k => k % 2 == 0 ? 0.0 : 6.0).ToArray()).To(dt);
        var rm = Tensor.FromArray(Enumerable.Range(0, c).Select(k => 0.5 * k).ToArray()).To(dt);
        var rv = Tensor.FromArray(Enumerable.Range(0, c).Select(k => 1.0 + k).ToArray()).To(dt);
        var upstream = Tensor.Randn(shape, new Generator((ulong)rng.Next()), dt);
        var cpu = Run(x, w, bias, rm, rv, upstream, act, affine);
        var dev = Run(x.To(gpu.Device), w.To(gpu.Device), bias.To(gpu.Device), rm.To(gpu.Device), rv.To(gpu.Device), upstream.To(gpu.Device), act, affine);
        var (r, a) = Tol(dt);
        string[] names = ["y", "grad x", "grad w", "grad b", "running mean", "running var"];
        for (int i = 0; i < cpu.Length; i++)
            if (cpu[i] is not null) GpuGen.Agree(cpu[i]!, dev[i]!, gpu.Device, r, a, $"{names[i]}: {what}");
        if (act != Activation.None)
        {
            // The boundary values really occur (else the mask test above proves nothing).
            var y = cpu[0]!.ToDoubleArray();
            Assert.Contains(0.0, y);
            if (affine && c >= 2) Assert.Contains(6.0, y);          // channel 1 has bias 6
        }
    }

    private static Tensor?[] Run(Tensor x, Tensor w, Tensor b, Tensor rm, Tensor rv, Tensor upstream, Activation act, bool affine)
    {
        x = x.Clone().RequireGrad();
        var weight = affine ? w.Clone().RequireGrad() : null;
        var bias = affine ? b.Clone().RequireGrad() : null;
        var (runMean, runVar) = (rm.Clone(), rv.Clone());
        var y = Functional.BatchNorm(x, runMean, runVar, weight, bias, training: true, activation: act);
        y.Backward(upstream);
        return [y.Detach(), x.Grad, weight?.Grad, bias?.Grad, runMean, runVar];
    }

    [Fact]
    public void BatchNormNeedsMoreThanOneValuePerChannelOnEveryDevice()
    {
        const string torch = Sparkle.Tests.Nn.BatchNormOneValueTests.TorchWords;
        foreach (var device in new[] { Device.Cpu, gpu.Device })
            foreach (var shape in new[] { new[] { 1, 3 }, new[] { 1, 3, 1, 1 } })
            {
                string size = "[" + string.Join(", ", shape) + "]";
                var rm = Tensor.FromArray(new[] { 0.5f, -1f, 2f }, [3]).To(device);
                var rv = Tensor.FromArray(new[] { 1.5f, 2f, 3f }, [3]).To(device);
                var x = Tensor.Ones(shape).To(device);
                var e = Assert.Throws<ArgumentException>(() => Functional.BatchNorm(x, rm, rv, null, null, training: true, activation: Activation.Relu));
                Assert.Contains(torch + size, e.Message);
                // The seam refuses too, before writing anything: output, saved statistics, running statistics.
                var y = Tensor.Full(shape, 7.0, DType.Float32, device);
                var (m, s) = (Tensor.Full([3], 7.0, DType.Float64, device), Tensor.Full([3], 7.0, DType.Float64, device));
                e = Assert.Throws<ArgumentException>(() => x.Backend.BatchNormTrainForward(x, null, null, 1e-5, Activation.None, y, m, s, rm, rv));
                Assert.Contains(torch + size, e.Message);
                Assert.Equal([0.5, -1.0, 2.0], rm.ToDoubleArray());
                Assert.Equal([1.5, 2.0, 3.0], rv.ToDoubleArray());
                Assert.All(y.ToDoubleArray().Concat(m.ToDoubleArray()).Concat(s.ToDoubleArray()), v => Assert.Equal(7.0, v));
            }
    }

    [Fact]
    public void SparseBatchNormNeedsMoreThanOneActiveSiteOnTheDevice()
    {
        var x = Tensor.Rand([2, 3, 2, 2], new Generator(4)).To(gpu.Device);
        var rm = Tensor.Zeros([3]).To(gpu.Device);
        var rv = Tensor.Ones([3]).To(gpu.Device);
        using var ctx = Sparkle.Sparse.SparseContext.Begin(new Sparkle.Sparse.ActiveMask(2, 2, 2, [false, false, true, false, false, false, false, false]));
        foreach (var run in new Action[]
                 {
                     () => Sparkle.Sparse.SparseOps.BatchNorm2d(x, rm, rv, null, null, training: true),
                     () => Sparkle.Sparse.MaskedDense.BatchNorm2d(x, rm, rv, null, null, training: true),
                 })
        {
            var e = Assert.Throws<ArgumentException>(run);
            Assert.Contains(Sparkle.Tests.Nn.BatchNormOneValueTests.TorchWords + "[1, 3]", e.Message);
            Assert.Equal([0.0, 0.0, 0.0], rm.ToDoubleArray());
            Assert.Equal([1.0, 1.0, 1.0], rv.ToDoubleArray());
        }
    }

    /// <summary>Outputs, int32 winners (through the seam) and gradients (through Functional) equal the CPU's exactly:
    /// same winner rule, and each input adds its gradients in the CPU's order. Ties, NaN, −inf, overlapping windows,
    /// padding.</summary>
    [Property(MaxTest = 6)]
    public void MaxPoolAgreesWithTheCpu(long seed)
    {
        var rng = new SeededRandom(seed);
        foreach (var dt in new[] { DType.Float32, DType.Float64 })
        {
            int k = rng.Next(1, 5), s = rng.Next(1, 4), p = rng.Next(0, k / 2 + 1);
            int h = rng.Next(k, 10), w = rng.Next(k, 10), n = rng.Next(1, 3), c = rng.Next(1, 3);
            var values = new double[n * c * h * w];
            for (int i = 0; i < values.Length; i++)
                values[i] = rng.Next(10) switch
                {
                    0 => 1.0,
                    1 => double.NegativeInfinity,
                    2 when rng.Next(3) == 0 => double.NaN,
                    _ => Math.Round(rng.NextDouble() * 8 - 4, 1),
                };
            var x = Tensor.FromArray(values, [n, c, h, w]).To(dt);
            string what = $"{dt.Name()} {ShapeUtil.Format(x.Shape)} k{k} s{s} p{p}";
            int oh = (h + 2 * p - k) / s + 1, ow = (w + 2 * p - k) / s + 1;
            var results = new List<Tensor[]>();
            foreach (var device in new[] { Device.Cpu, gpu.Device })
            {
                var xd = x.To(device);
                var y = Tensor.Empty([n, c, oh, ow], dt, device);
                var winners = Tensor.Empty([n, c, oh, ow], DType.Int32, device);
                xd.Backend.MaxPool2dForward(xd, k, s, p, y, winners);
                var leaf = xd.Clone().RequireGrad();
                var yf = Functional.MaxPool2d(leaf, k, s, p);
                yf.Backward(Tensor.Randn(yf.ShapeArray(), new Generator((ulong)(uint)seed), dt).To(device));
                results.Add([y, winners, yf.Detach(), leaf.Grad!]);
            }
            string[] names = ["y", "winners", "Functional y", "grad"];
            for (int i = 0; i < names.Length; i++) GpuGen.Agree(results[0][i], results[1][i], gpu.Device, what: $"{names[i]} {what}");
        }
    }

    [Fact]
    public void MaxPoolOfAnAllMinusInfinityWindowSendsTheGradientToItsFirstRealElement()
    {
        var x = Tensor.Full([1, 1, 2, 2], double.NegativeInfinity).To(gpu.Device).RequireGrad();
        var y = Functional.MaxPool2d(x, 2, 2, 1);
        Assert.All(y.ToDoubleArray(), v => Assert.Equal(double.NegativeInfinity, v));
        y.Backward(Tensor.Ones([1, 1, 2, 2]).To(gpu.Device));
        Assert.Equal([1.0, 1.0, 1.0, 1.0], x.Grad!.ToDoubleArray());
    }
}
