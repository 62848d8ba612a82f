using FsCheck.Xunit;
using Sparkle.Tensors;
using Sparkle.Tests.Support;
using Xunit;

namespace Sparkle.Tests.Gpu;

/// <summary>Reductions, arg-reductions, index-select/gather/scatter-add and batched matmul agree with the CPU
/// on random views. Integer results are exact; float sums differ from the CPU's blocked order by rounding only.</summary>
[Collection(IlgpuCollection.Name)]
public class GpuReduceIndexMatMulTests(IlgpuFixture gpu)
{
    private static (double R, double A) Tol(DType d) => d == DType.Float32 ? (1e-5, 1e-5) : (1e-12, 1e-12);

    [Property(MaxTest = 4)]
    public void ReductionsAgree(long seed)
    {
        var rng = new SeededRandom(seed);
        foreach (var dt in new[] { DType.Float32, DType.Float64, DType.Int32, DType.Int64, DType.Bool })
            ReductionsAgreeOnARandomView(rng, dt, maxDim: 5, argReductions: true, "");
    }

    /// <summary>max/min (and arg-reductions when asked), sum, mean, var over random axes of a random view.</summary>
    private void ReductionsAgreeOnARandomView(Random rng, DType dt, int maxDim, bool argReductions, string tag)
    {
        var shape = TensorGen.RandomShape(rng, 1, 4, maxDim);
        var (cpu, dev) = GpuGen.Pair(rng, shape, dt, GpuGen.AnyLayout(rng), gpu.Device);
        var axes = Enumerable.Range(0, shape.Length).Where(_ => rng.Next(2) == 0).ToArray();
        var (r, a) = dt.IsFloating() ? Tol(dt) : (0.0, 0.0);
        string what = $"{dt.Name()}{tag} shape {string.Join("x", shape)} axes [{string.Join(",", axes)}]";
        GpuGen.Agree(cpu.Max(axes), dev.Max(axes), gpu.Device, what: $"max {what}");
        GpuGen.Agree(cpu.Min(axes, true), dev.Min(axes, true), gpu.Device, what: $"min {what}");
        if (argReductions)
        {
            int d = rng.Next(shape.Length);
            GpuGen.Agree(cpu.ArgMax(d), dev.ArgMax(d), gpu.Device, what: $"argmax {what}");
            GpuGen.Agree(cpu.ArgMin(d, true), dev.ArgMin(d, true), gpu.Device, what: $"argmin {what}");
        }
        if (dt == DType.Bool) return;
        // A sum in another order differs by rounding relative to the sum of magnitudes, not to the (possibly cancelled)
        // result: seed -863357542581053747 sums 240 float32 values to -0.7787 with 1.8e-5 between the orders.
        double Scale(Tensor t) => dt.IsFloating() ? Math.Max(1, t.Abs().To(DType.Float64).ToDoubleArray().DefaultIfEmpty(0).Max()) : 1;
        GpuGen.Agree(cpu.Sum(axes), dev.Sum(axes), gpu.Device, r, a * Scale(cpu.Abs().To(DType.Float64).Sum(axes)), $"sum {what}");
        if (!dt.IsFloating()) return;
        GpuGen.Agree(cpu.Mean(axes), dev.Mean(axes), gpu.Device, r, a * Scale(cpu.Abs().To(DType.Float64).Mean(axes)), $"mean {what}");
        GpuGen.Agree(cpu.Var(axes), dev.Var(axes), gpu.Device, r, a, $"var {what}");
        GpuGen.Agree(cpu.Var(axes, correction: 0, keepDim: true), dev.Var(axes, correction: 0, keepDim: true), gpu.Device, r, a, $"var0 {what}");
    }

    /// <summary>The grouped reduction (one thread group per output, a shared-memory tree): forced for every length, at every
    /// power-of-two group size the simulator allows, on random views; plus a long reduction (many elements per thread)
    /// and NaN propagation through the tree.</summary>
    [Property(MaxTest = 3)]
    public void GroupedReductionsAgree(long seed)
    {
        var rng = new SeededRandom(seed);
        var b = gpu.Backend;
        try
        {
            b.GroupedReduceMinLength = 1;
            foreach (int g in new[] { 1, 2, 4, 16 }.Where(g => g <= b.Accelerator.MaxNumThreadsPerGroup))
            {
                b.ReduceGroupSize = g;
                b.SplitReduceMinLength = g >= 4 ? 8 : int.MaxValue;             // two-launch split sums, or one group per output
                foreach (var dt in new[] { DType.Float32, DType.Float64, DType.Int32, DType.Int64, DType.Bool })
                    ReductionsAgreeOnARandomView(rng, dt, maxDim: 6, argReductions: false, $" group {g}");
            }
            b.ReduceGroupSize = null;
            b.GroupedReduceMinLength = 256;                                      // the defaults: only long reductions
            b.SplitReduceMinLength = 1000;                                       // (split above 1000 here, to reach it)
            var big = Tensor.Randn([3, 2000], new Generator(unchecked((ulong)seed))).Add(1.5);
            var bigDev = big.To(gpu.Device);
            GpuGen.Agree(big.Sum(1), bigDev.Sum(1), gpu.Device, 1e-5, 1e-5, "sum of 2000");
            GpuGen.Agree(big.Var([1]), bigDev.Var([1]), gpu.Device, 1e-5, 1e-5, "var of 2000");
            GpuGen.Agree(big.Sum(), bigDev.Sum(), gpu.Device, 1e-5, 1e-5, "sum of 6000");
            GpuGen.Agree(big.Mean([0, 1]), bigDev.Mean([0, 1]), gpu.Device, 1e-5, 1e-5, "mean of 6000");
            GpuGen.Agree(big.To(DType.Float64).Sum([1]), bigDev.To(DType.Float64).Sum([1]), gpu.Device, 1e-12, 1e-12, "float64 sum of 2000");
            GpuGen.Agree(big.Max(0), bigDev.Max(0), gpu.Device, what: "max of 3 (one thread per output)");
            var values = big.ToArray<float>();
            values[2000 + 1234] = float.NaN;
            var withNaN = Tensor.FromArray(values, [3, 2000]);
            GpuGen.Agree(withNaN.Max(1), withNaN.To(gpu.Device).Max(1), gpu.Device, what: "max with NaN");
            GpuGen.Agree(withNaN.Sum(1), withNaN.To(gpu.Device).Sum(1), gpu.Device, 1e-5, 1e-5, "sum with NaN");
        }
        finally
        {
            b.ReduceGroupSize = null;
            b.GroupedReduceMinLength = 256;
            b.SplitReduceMinLength = 16384;
        }
    }

    [Fact]
    public void NaNsPropagateAndWinArgReductions()
    {
        var cpu = Tensor.FromArray(new[] { 1.0, double.NaN, 3.0, -1.0, 5.0, 5.0 }, [2, 3]);
        var dev = cpu.To(gpu.Device);
        GpuGen.Agree(cpu.Max(1), dev.Max(1), gpu.Device, what: "max");
        GpuGen.Agree(cpu.ArgMax(1), dev.ArgMax(1), gpu.Device, what: "argmax");
        GpuGen.Agree(cpu.ArgMin(1), dev.ArgMin(1), gpu.Device, what: "argmin");
        GpuGen.Agree(cpu.ArgMax(), dev.ArgMax(), gpu.Device, what: "argmax flat");
    }

    [Property(MaxTest = 4)]
    public void IndexingAgreesExactly(long seed)
    {
        var rng = new SeededRandom(seed);
        foreach (var dt in Enum.GetValues<DType>())
        {
            var shape = TensorGen.RandomShape(rng, 1, 3, 5);
            var (cpu, dev) = GpuGen.Pair(rng, shape, dt, GpuGen.AnyLayout(rng), gpu.Device);
            int d = rng.Next(shape.Length);
            var idxType = rng.Next(2) == 0 ? DType.Int64 : DType.Int32;
            var sel = Tensor.FromArray(Enumerable.Range(0, 7).Select(_ => (long)rng.Next(shape[d])).ToArray()).To(idxType);
            GpuGen.Agree(cpu.IndexSelect(d, sel), dev.IndexSelect(d, sel.To(gpu.Device)), gpu.Device, what: $"index_select {dt.Name()}");

            var ishape = shape.Select(s => rng.Next(1, s + 1)).ToArray();
            ishape[d] = rng.Next(1, 6);
            var idx = Tensor.FromArray(TensorGen.Indices(ishape).Select(_ => (long)rng.Next(shape[d])).ToArray(), ishape).To(idxType);
            GpuGen.Agree(cpu.Gather(d, idx), dev.Gather(d, idx.To(gpu.Device)), gpu.Device, what: $"gather {dt.Name()}");

            // Repeated targets along dim: the sum order is fixed, so even float32 agrees exactly.
            var (srcCpu, srcDev) = GpuGen.Pair(rng, ishape, dt, GpuGen.AnyLayout(rng), gpu.Device);
            var baseCpu = cpu.Contiguous();
            GpuGen.Agree(baseCpu.ScatterAdd(d, idx, srcCpu), dev.Contiguous().ScatterAdd(d, idx.To(gpu.Device), srcDev), gpu.Device,
                what: $"scatter_add {dt.Name()}");
        }
    }

    [Property(MaxTest = 4)]
    public void MatMulAgrees(long seed)
    {
        var rng = new SeededRandom(seed);
        foreach (var dt in new[] { DType.Float32, DType.Float64 })
        {
            int b = rng.Next(1, 4), m = rng.Next(1, 9), k = rng.Next(0, 17), n = rng.Next(1, 9);
            var (ca, da) = GpuGen.Pair(rng, [b, m, k], dt, GpuGen.AnyLayout(rng), gpu.Device);
            var (cb, db) = GpuGen.Pair(rng, [k, n], dt, GpuGen.AnyLayout(rng), gpu.Device);
            var (r, a) = dt == DType.Float32 ? (1e-5, 1e-5) : (1e-12, 1e-12);
            GpuGen.Agree(ca.MatMul(cb), da.MatMul(db), gpu.Device, r, a, $"matmul {dt.Name()} ({b},{m},{k})x({k},{n})");
        }
    }
}
