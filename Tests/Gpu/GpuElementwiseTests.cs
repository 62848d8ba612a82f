using FsCheck.Xunit;
using Sparkle.Tensors;
using Sparkle.Tests.Support;
using Xunit;

namespace Sparkle.Tests.Gpu;

/// <summary>Unary, binary, comparison, logic and where kernels agree with the CPU backend on random views
/// (permuted, stepped, expanded), run through the public Tensor API on both devices.</summary>
[Collection(IlgpuCollection.Name)]
public class GpuElementwiseTests(IlgpuFixture gpu)
{
    private static readonly DType[] Numeric = [DType.Float32, DType.Float64, DType.Int32, DType.Int64];

    private static (double R, double A) Loose(DType d) => d == DType.Float32 ? (1e-4, 1e-6) : (1e-10, 1e-12);

    /// <summary>Ops that round at most once agree exactly; transcendentals within float tolerance.</summary>
    private static readonly (string Name, Func<Tensor, Tensor> F, bool Exact, bool Positive)[] FloatUnary =
    [
        ("neg", t => -t, true, false), ("abs", t => t.Abs(), true, false), ("square", t => t.Square(), true, false),
        ("relu", t => t.Relu(), true, false), ("relu6", t => (t * 4).Relu6(), true, false),
        ("clamp", t => t.Clamp(-0.5, 1.25), true, false), ("clamp-lo", t => t.Clamp(min: 0.25), true, false),
        ("scale", t => t.Clone().Mul_(-1.5), true, false), ("reciprocal", t => t.Pow(-1), true, false),
        ("sqrt", t => t.Sqrt(), true, true), ("rsqrt", t => t.Rsqrt(), false, true),
        ("exp", t => t.Exp(), false, false), ("log", t => t.Log(), false, true),
        ("sigmoid", t => t.Sigmoid(), false, false), ("tanh", t => t.Tanh(), false, false),
        ("erf", t => t.Erf(), false, false), ("gelu", t => (t * 3).Gelu(), false, false),
        ("pow-1.7", t => t.Pow(1.7), false, true), ("pow-3", t => t.Pow(3), false, false),
    ];

    [Property(MaxTest = 4)]
    public void FloatUnaryOpsAgree(long seed)
    {
        var rng = new SeededRandom(seed);
        foreach (var dt in new[] { DType.Float32, DType.Float64 })
        foreach (var (name, f, exact, positive) in FloatUnary)
        {
            var (cpu, dev) = GpuGen.Pair(rng, TensorGen.RandomShape(rng, 0, 4, 5), dt, GpuGen.AnyLayout(rng), gpu.Device);
            if (positive) { cpu = cpu.Abs() + 0.1; dev = dev.Abs() + 0.1; }
            var (r, a) = exact ? (0.0, 0.0) : Loose(dt);
            GpuGen.Agree(f(cpu), f(dev), gpu.Device, r, a, $"{name} {dt.Name()}");
        }
    }

    [Fact]
    public void SpecialValuesAgree()
    {
        foreach (var dt in new[] { DType.Float32, DType.Float64 })
        {
            var cpu = Tensor.FromArray(new[] { double.NaN, double.PositiveInfinity, double.NegativeInfinity, -0.0, 0.0, -30, 30, 1e-8, -7 }).To(dt);
            var dev = cpu.To(gpu.Device);
            GpuGen.Agree(cpu.IsFinite(), dev.IsFinite(), gpu.Device, what: "isfinite");
            GpuGen.Agree(cpu.Relu(), dev.Relu(), gpu.Device, what: "relu");
            GpuGen.Agree(cpu.Maximum(cpu.Neg()), dev.Maximum(dev.Neg()), gpu.Device, what: "maximum");
            GpuGen.Agree(cpu.Minimum(cpu.Neg()), dev.Minimum(dev.Neg()), gpu.Device, what: "minimum");
            var (r, a) = Loose(dt);
            foreach (var f in new Func<Tensor, Tensor>[] { t => t.Exp(), t => t.Sigmoid(), t => t.Tanh(), t => t.Erf(), t => t.Gelu() })
                GpuGen.Agree(f(cpu), f(dev), gpu.Device, r, a, $"special {dt.Name()}");
        }
    }

    [Property(MaxTest = 4)]
    public void IntegerUnaryOpsAgreeExactly(long seed)
    {
        var rng = new SeededRandom(seed);
        var ops = new Func<Tensor, Tensor>[]
        {
            t => -t, t => t.Abs(), t => t.Square(), t => t.Relu(), t => (t * 2).Relu6(), t => t.Clamp(-2, 3),
            t => t.Pow(3), t => t.Pow(0), t => t.Clone().Mul_(-3), t => t.IsFinite(),
        };
        foreach (var dt in new[] { DType.Int32, DType.Int64 })
            for (int k = 0; k < ops.Length; k++)
            {
                var (cpu, dev) = GpuGen.Pair(rng, TensorGen.RandomShape(rng, 0, 4, 5), dt, GpuGen.AnyLayout(rng), gpu.Device);
                GpuGen.Agree(ops[k](cpu), ops[k](dev), gpu.Device, what: $"int op {k} {dt.Name()}");
            }
    }

    [Property(MaxTest = 4)]
    public void BinaryOpsAgreeWithBroadcasting(long seed)
    {
        var rng = new SeededRandom(seed);
        var ops = new (string Name, Func<Tensor, Tensor, Tensor> F, bool Exact)[]
        {
            ("add", (a, b) => a + b, true), ("sub", (a, b) => a - b, true), ("mul", (a, b) => a * b, true),
            ("div", (a, b) => a / b, true), ("max", (a, b) => a.Maximum(b), true), ("min", (a, b) => a.Minimum(b), true),
            ("pow", (a, b) => a.Pow(b), false),
            ("relu-backward", (a, b) => Tensor.ReluBackward(a, b), true), ("relu6-backward", (a, b) => Tensor.Relu6Backward(a, b * 8), true),
        };
        foreach (var dt in Numeric)
        foreach (var (name, f, exact) in ops)
        {
            var shape = TensorGen.RandomShape(rng, 1, 4, 5);
            var (ca, da) = GpuGen.Pair(rng, shape, dt, GpuGen.AnyLayout(rng), gpu.Device);
            var (cb, db) = GpuGen.Pair(rng, TensorGen.BroadcastPartner(rng, shape), dt, GpuGen.AnyLayout(rng), gpu.Device);
            var (r, a) = exact || !dt.IsFloating() ? (0.0, 0.0) : Loose(dt);
            GpuGen.Agree(f(ca, cb), f(da, db), gpu.Device, r, a, $"{name} {dt.Name()}");
            GpuGen.Agree(f(cb, ca), f(db, da), gpu.Device, r, a, $"{name} swapped {dt.Name()}");
        }
    }

    [Property(MaxTest = 4)]
    public void InPlaceBinaryOpsOnViewsAgree(long seed)
    {
        var rng = new SeededRandom(seed);
        foreach (var dt in Numeric)
        {
            var baseCpu = TensorGen.Random(rng, [5, 4, 3], dt);
            var baseDev = baseCpu.To(gpu.Device);
            var b = TensorGen.Random(rng, [5, 1], dt);
            baseCpu.Permute(1, 0, 2).Slice(2, 0, 3, 2).Add_(b, 2);
            baseDev.Permute(1, 0, 2).Slice(2, 0, 3, 2).Add_(b.To(gpu.Device), 2);
            GpuGen.Agree(baseCpu, baseDev, gpu.Device, what: $"add_ {dt.Name()}");
        }
    }

    [Property(MaxTest = 4)]
    public void ComparisonsLogicAndWhereAgreeExactly(long seed)
    {
        var rng = new SeededRandom(seed);
        var cmps = new Func<Tensor, Tensor, Tensor>[] { (a, b) => a.Eq(b), (a, b) => a.Ne(b), (a, b) => a.Lt(b), (a, b) => a.Le(b), (a, b) => a.Gt(b), (a, b) => a.Ge(b) };
        foreach (var dt in Enum.GetValues<DType>())
        {
            var shape = TensorGen.RandomShape(rng, 1, 4, 4);
            var (ca, da) = GpuGen.Pair(rng, shape, dt, GpuGen.AnyLayout(rng), gpu.Device);
            var (cb, db) = GpuGen.Pair(rng, TensorGen.BroadcastPartner(rng, shape), dt, GpuGen.AnyLayout(rng), gpu.Device);
            foreach (var c in cmps) GpuGen.Agree(c(ca, cb), c(da, db), gpu.Device, what: $"compare {dt.Name()}");

            var (cc, dc) = GpuGen.Pair(rng, TensorGen.BroadcastPartner(rng, shape), DType.Bool, GpuGen.AnyLayout(rng), gpu.Device);
            GpuGen.Agree(Tensor.Where(cc, ca, cb), Tensor.Where(dc, da, db), gpu.Device, what: $"where {dt.Name()}");
            var (cm, dm) = (ca.Gt(cb), da.Gt(db));
            GpuGen.Agree(cm.LogicalAnd(cc), dm.LogicalAnd(dc), gpu.Device, what: "and");
            GpuGen.Agree(cm.LogicalOr(cc), dm.LogicalOr(dc), gpu.Device, what: "or");
            GpuGen.Agree(cm.LogicalNot(), dm.LogicalNot(), gpu.Device, what: "not");
        }
    }
}
