using Sparkle.Tensors;
using Sparkle.Tensors.Cpu;
using Sparkle.Tests.Support;
using Xunit;
using static Sparkle.Tests.ElementwiseReference;

namespace Sparkle.Tests;

/// <summary>Tests that flip the process-wide thread count run alone. (The vector width is not a process-wide setting:
/// it is a kernel option of the backend a tensor lives on.)</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class KernelSettingsCollection
{
    public const string Name = "Kernel settings (threads)";

    /// <summary>The CPU backend whose kernels are those of <paramref name="isa"/> (emulated where the hardware lacks it);
    /// ops on tensors it adopts run that way.</summary>
    public static CpuBackend Simd(CpuIsa isa) => CpuBackend.WithOptions(new CpuKernelOptions { Isa = isa });

    /// <summary>Every kernel family, forced: each runs on any host.</summary>
    public static readonly CpuIsa[] Isas = [CpuIsa.Avx512, CpuIsa.Avx2, CpuIsa.V128, CpuIsa.Scalar];

    public static T WithThreads<T>(int n, Func<T> f)
    {
        int was = IntraOpPool.NumThreads;
        IntraOpPool.NumThreads = n;
        try { return f(); }
        finally { IntraOpPool.NumThreads = was; }
    }
}

/// <summary>
/// The SIMD drivers: the Vector512, Vector128 and scalar paths (each forced through the options, whatever the host) give
/// the same bits as the Vector256 ones for every op and every length 1..70 (all remainder paths), contiguous and
/// strided, and neither the layout nor the thread count changes a single bit.
/// </summary>
[Collection(KernelSettingsCollection.Name)]
public class ElementwiseSimdTests
{
    private static readonly (string Name, Func<Tensor, Tensor, Tensor> Op)[] Ops =
    [
        ("neg", (x, _) => -x), ("abs", (x, _) => x.Abs()), ("square", (x, _) => x.Square()),
        ("exp", (x, _) => x.Exp()), ("log", (x, _) => x.Abs().Log()), ("sqrt", (x, _) => x.Abs().Sqrt()),
        ("rsqrt", (x, _) => x.Abs().Rsqrt()), ("relu", (x, _) => x.Relu()), ("relu6", (x, _) => (x * 4).Relu6()),
        ("gelu", (x, _) => (x * 3).Gelu()), ("sigmoid", (x, _) => (x * 3).Sigmoid()), ("tanh", (x, _) => x.Tanh()),
        ("erf", (x, _) => (x * 2).Erf()), ("clamp", (x, _) => x.Clamp(-0.5, 0.7)), ("pow", (x, _) => x.Pow(-1)),
        ("add", (x, y) => x + y), ("sub", (x, y) => x - y), ("mul", (x, y) => x * y), ("div", (x, y) => x / y),
        ("max", (x, y) => x.Maximum(y)), ("min", (x, y) => x.Minimum(y)),
        ("add scalar row", (x, y) => x + y.Narrow(0, 0, 1)), ("scalar row - x", (x, y) => y.Narrow(0, 0, 1) - x),
        ("lt", (x, y) => x.Lt(y)), ("eq", (x, _) => x.Eq(x)), ("isfinite", (x, _) => (x / 0).IsFinite()),
        ("where", (x, y) => Tensor.Where(x.Gt(0), x, y)), ("masked_fill", (x, y) => y.MaskedFill(x.Gt(0), 2)),
        ("not", (x, _) => x.Gt(0).LogicalNot()), ("and", (x, y) => x.Gt(0).LogicalAnd(y.Gt(0))),
    ];

    [Theory]
    [InlineData(CpuIsa.Avx512)]
    [InlineData(CpuIsa.V128)]
    [InlineData(CpuIsa.Scalar)]
    public void EveryWidthGivesTheSameBitsAsVector256(CpuIsa isa)
    {
        var rng = new Random(7);
        var (narrow, other) = (KernelSettingsCollection.Simd(CpuIsa.Avx2), KernelSettingsCollection.Simd(isa));
        foreach (var dtype in Floats.Concat(Ints))
            for (int n = 1; n <= 70; n++)
            {
                var x = TensorGen.Random(rng, [n], dtype);
                var y = TensorGen.Random(rng, [n], dtype);
                // every other element of a 2n row: the gathered (strided) path
                var xs = TensorGen.Random(rng, [2 * n], dtype).Slice(0, 0, 2 * n, 2);
                foreach (var (name, op) in Ops)
                {
                    if (!dtype.IsFloating() && name is "exp" or "log" or "sqrt" or "rsqrt" or "gelu" or "sigmoid" or "tanh" or "erf" or "pow" or "isfinite")
                        continue;
                    var b256 = Bits(op(narrow.Adopt(x), narrow.Adopt(y)));
                    var bo = Bits(op(other.Adopt(x), other.Adopt(y)));
                    Assert.True(b256.SequenceEqual(bo), $"{name} {dtype.Name()} n={n}: {isa} and Avx2 differ");
                    var s256 = Bits(op(narrow.Adopt(xs), narrow.Adopt(y)));
                    var so = Bits(op(other.Adopt(xs), other.Adopt(y)));
                    Assert.True(s256.SequenceEqual(so), $"{name} {dtype.Name()} n={n} strided: {isa} and Avx2 differ");
                }
            }
    }

    [Theory]
    [InlineData(CpuIsa.Avx512)]
    [InlineData(CpuIsa.Avx2)]
    [InlineData(CpuIsa.V128)]
    [InlineData(CpuIsa.Scalar)]
    public void EveryWidthMatchesTheReference(CpuIsa isa)
    {
        var rng = new Random(11);
        var wide = KernelSettingsCollection.Simd(isa);
        foreach (var dtype in Floats)
        {
            var x = TensorGen.Random(rng, [67], dtype);
            var y = TensorGen.Random(rng, [67], dtype);
            var xv = TensorGen.Values(x);
            var yv = TensorGen.Values(y);
            var (xw, yw) = (wide.Adopt(x), wide.Adopt(y));
            Check.Close(xv.Select(v => Gelu(3 * v)).ToArray(), (xw * 3).Gelu(), Check.Tol(dtype), what: $"gelu {isa}");
            Check.Close(xv.Select(Math.Tanh).ToArray(), xw.Tanh(), Check.Tol(dtype), what: $"tanh {isa}");
            Check.Close(xv.Zip(yv, (a, b) => a + b).ToArray(), xw + yw, Check.Tol(dtype), what: $"add {isa}");
            Check.Close(xv.Zip(yv, (a, b) => a < b ? 1.0 : 0.0).ToArray(), xw.Lt(yw), 0, 0, $"lt {isa}");
            Check.Close(xv.Zip(yv, (a, b) => a > 0 ? a : b).ToArray(), Tensor.Where(xw.Gt(0), xw, yw), 0, 0, $"where {isa}");
        }
    }

    [Fact]
    public void LayoutDoesNotChangeBits()
    {
        var rng = new Random(3);
        foreach (var dtype in Floats)
        {
            var x = TensorGen.Random(rng, [37, 5], dtype);
            var strided = x.T.Contiguous().T; // same values, column-major
            var row = TensorGen.Random(rng, [5], dtype);
            foreach (var (name, op) in Ops.Where(o => o.Name is "exp" or "gelu" or "tanh" or "erf" or "sigmoid" or "log" or "rsqrt"))
            {
                Assert.True(Bits(op(x, x)).SequenceEqual(Bits(op(strided, strided))), $"{name} {dtype.Name()}: strided differs from contiguous");
                // a broadcast (stride-0) operand computes each value once: same bits as computing it per element
                var expanded = row.Expand(37, 5);
                Assert.True(Bits(op(expanded, expanded)).SequenceEqual(Bits(op(expanded.Contiguous(), expanded))), $"{name} {dtype.Name()}: broadcast differs");
            }
        }
    }

    [Fact]
    public void ThreadCountDoesNotChangeBits()
    {
        var rng = new Random(5);
        var x = Tensor.FromArray(Enumerable.Range(0, 300_007).Select(_ => (float)(rng.NextDouble() * 8 - 4)).ToArray());
        var bias = Tensor.FromArray(new[] { 0.25f });
        foreach (var op in new Func<Tensor, Tensor>[] { t => t.Gelu(), t => t.Exp(), t => t + bias, t => t.Tanh() })
        {
            var one = KernelSettingsCollection.WithThreads(1, () => Bits(op(x)));
            var two = KernelSettingsCollection.WithThreads(2, () => Bits(op(x)));
            var three = KernelSettingsCollection.WithThreads(3, () => Bits(op(x)));
            Assert.True(one.SequenceEqual(two) && one.SequenceEqual(three), "elementwise result depends on the thread count");
        }
    }
}
