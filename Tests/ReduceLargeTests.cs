using Sparkle.Tensors;
using Sparkle.Tensors.Cpu.Reduce;
using Sparkle.Tests.Support;
using Xunit;

namespace Sparkle.Tests;

/// <summary>
/// Reductions big enough to take every kernel path (inner rows split into chunks, outer rows with and without
/// chunks, the generic gather path): values against float64 references, bit-identical results for 1, 2 and 3
/// threads, the Vector512 paths, and a variance on data far from zero (two passes keep it accurate).
/// </summary>
[Collection(KernelSettingsCollection.Name)]
public class ReduceLargeTests
{
    public static TheoryData<string> Cases => new() { "inner-long-row", "inner-rows", "outer-chunked", "outer", "generic" };

    /// <summary>(x, axes, expected kind, chunked) for each named layout.</summary>
    private static (Tensor X, int[] Axes, ReduceKind Kind, bool Chunked) Make(string name)
    {
        var rng = new Random(name.Length);
        Tensor Rand(params int[] shape) =>
            Tensor.FromArray(Enumerable.Range(0, ShapeUtil.NumElements(shape)).Select(_ => (float)(rng.NextDouble() * 2 - 0.5)).ToArray(), shape);
        return name switch
        {
            "inner-long-row" => (Rand(3, 40_000), [1], ReduceKind.Inner, true),
            "inner-rows" => (Rand(16, 8, 3136), [0, 2], ReduceKind.Inner, true),                      // BN statistics, NCHW
            "outer-chunked" => (Rand(20_000, 64), [0], ReduceKind.Outer, true),                       // BN statistics, channels-last
            "outer" => (Rand(16, 24, 784), [1], ReduceKind.Outer, false),                            // channels-first LayerNorm
            "generic" => (Rand(3, 60_000).Slice(1, 0, 60_000, 2), [1], ReduceKind.Generic, true),   // stepped rows
            _ => throw new ArgumentException(name),
        };
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void LargeReductionsAreAccurateAndThreadIndependent(string name)
    {
        var (x, axes, kind, chunked) = Make(name);
        var plan = new ReducePlan(x, axes);
        Assert.Equal(kind, plan.Kind);
        Assert.Equal(chunked, plan.Chunks > 1);

        var groups = ReduceReference.Groups(x, axes);
        var ops = new (string, Func<Tensor, Tensor>, Func<List<double>, double>, double)[]
        {
            ("sum", t => t.Sum(axes), g => g.Sum(), 1e-5),
            ("mean", t => t.Mean(axes), g => g.Average(), 1e-5),
            ("var", t => t.Var(axes), g => ReduceReference.Var(g, 1), 1e-5),
            ("max", t => t.Max(axes), g => g.Max(), 0),
        };
        foreach (var (op, f, reference, rtol) in ops)
        {
            var expected = groups.Select(reference).ToArray();
            var one = KernelSettingsCollection.WithThreads(1, () => f(x));
            Check.Close(expected, one, rtol, what: $"{name} {op}");
            var bits = ElementwiseReference.Bits(one);
            foreach (int threads in new[] { 2, 3 })
                Assert.True(bits.SequenceEqual(ElementwiseReference.Bits(KernelSettingsCollection.WithThreads(threads, () => f(x)))),
                    $"{name} {op}: {threads} threads differ from 1");
            foreach (var isa in KernelSettingsCollection.Isas)
                Check.Close(expected, f(KernelSettingsCollection.Simd(isa).Adopt(x)), rtol, what: $"{name} {op} {isa}");
        }
    }

    [Fact]
    public void EveryRowLengthOnEveryVectorWidth()
    {
        var rng = new Random(9);
        foreach (var isa in KernelSettingsCollection.Isas)
            for (int n = 1; n <= 70; n++)
            {
                var x = KernelSettingsCollection.Simd(isa).Adopt(TensorGen.Random(rng, [3, n], DType.Float32));
                foreach (var axes in new[] { new[] { 1 }, new[] { 0 } })
                {
                    var groups = ReduceReference.Groups(x, axes);
                    string what = $"n={n} axes={axes[0]} isa={isa}";
                    Check.Close(groups.Select(g => g.Sum()).ToArray(), x.Sum(axes), 1e-5, what: "sum " + what);
                    Check.Close(groups.Select(g => g.Max()).ToArray(), x.Max(axes), 0, 0, "max " + what);
                    Check.Close(groups.Select(g => ReduceReference.Var(g, 0)).ToArray(), x.Var(axes, 0), 1e-5, what: "var " + what);
                }
            }
    }

    [Fact]
    public void VarianceFarFromZeroIsTwoPass()
    {
        var rng = new Random(1);
        // mean 1e4, std ~0.3: E[x^2] - E[x]^2 in float32 would lose every digit
        var data = Enumerable.Range(0, 4 * 5000).Select(_ => (float)(1e4 + rng.NextDouble() - 0.5)).ToArray();
        var x = Tensor.FromArray(data, [4, 5000]);
        var expected = ReduceReference.Groups(x, [1]).Select(g => ReduceReference.Var(g, 1)).ToArray();
        Check.Close(expected, x.Var([1]), 1e-4, what: "var far from zero");
        Check.Close(expected, x.T.Var([0]), 1e-4, what: "var far from zero, transposed");
    }
}
