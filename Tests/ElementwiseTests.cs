using FsCheck.Xunit;
using Sparkle.Tensors;
using Sparkle.Tests.Support;
using Xunit;
using static Sparkle.Tests.ElementwiseReference;

namespace Sparkle.Tests;

/// <summary>Elementwise ops against naive scalar references over random shapes, broadcast partners,
/// every TensorGen layout, and float32/float64 (and integers where defined).</summary>
public class ElementwiseTests
{
    private static readonly (string Name, Func<Tensor, Tensor> Op, Func<double, double> Ref)[] FloatUnary =
    [
        ("Neg", x => x.Neg(), v => -v),
        ("Abs", x => x.Abs(), Math.Abs),
        ("Square", x => x.Square(), v => v * v),
        ("Exp", x => x.Exp(), Math.Exp),
        ("Log", x => x.Log(), Math.Log),
        ("Sqrt", x => x.Sqrt(), Math.Sqrt),
        ("Rsqrt", x => x.Rsqrt(), v => 1 / Math.Sqrt(v)),
        ("Relu", x => x.Relu(), v => Math.Max(v, 0)),
        ("Relu6", x => x.Relu6(), v => Math.Min(Math.Max(v, 0), 6)),
        ("Gelu", x => x.Gelu(), Gelu),
        ("Sigmoid", x => x.Sigmoid(), Sigmoid),
        ("Tanh", x => x.Tanh(), Math.Tanh),
        ("Erf", x => x.Erf(), Erf),
        ("Clamp(-0.5,1)", x => x.Clamp(-0.5, 1), v => Math.Min(Math.Max(v, -0.5), 1)),
        ("Clamp(min)", x => x.Clamp(min: 0.25), v => Math.Max(v, 0.25)),
        ("Clamp(max)", x => x.Clamp(max: -0.25), v => Math.Min(v, -0.25)),
        ("Pow(2)", x => x.Pow(2), v => v * v),
        ("Pow(0.5)", x => x.Pow(0.5), Math.Sqrt),
        ("Pow(-1)", x => x.Pow(-1), v => 1 / v),
        ("Pow(3)", x => x.Pow(3), v => Math.Pow(v, 3)),
        ("Pow(1.7)", x => x.Pow(1.7), v => Math.Pow(v, 1.7)),
        ("-x", x => -x, v => -v),
    ];

    private static readonly (string Name, Func<Tensor, Tensor> Op, Func<double, double> Ref)[] IntUnary =
    [
        ("Neg", x => x.Neg(), v => -v),
        ("Abs", x => x.Abs(), Math.Abs),
        ("Square", x => x.Square(), v => v * v),
        ("Relu", x => x.Relu(), v => Math.Max(v, 0)),
        ("Relu6", x => x.Relu6(), v => Math.Min(Math.Max(v, 0), 6)),
        ("Clamp(-2,3)", x => x.Clamp(-2, 3), v => Math.Min(Math.Max(v, -2), 3)),
        ("Pow(3)", x => x.Pow(3), v => v * v * v),
    ];

    [Property(MaxTest = 25)]
    public void UnaryOpsMatchReference(long seed)
    {
        var rng = new SeededRandom(seed);
        var shape = TensorGen.RandomShape(rng);
        foreach (var dtype in Floats.Concat(Ints))
            foreach (var layout in TensorGen.AllLayouts)
            {
                var x = TensorGen.Random(rng, shape, dtype, layout);
                var xv = TensorGen.Values(x);
                foreach (var (name, op, f) in dtype.IsFloating() ? FloatUnary : IntUnary)
                {
                    var y = op(x);
                    Assert.Equal(dtype, y.DType);
                    Check.Shape(y, shape);
                    Check.Close(xv.Select(v => ToDType(f(v), dtype)).ToArray(), y, Check.Tol(dtype), what: $"{name} {dtype.Name()} {layout}");
                }
            }
    }

    [Property(MaxTest = 10)]
    public void FloatOnlyUnaryOpsTurnIntegersIntoFloat32(long seed)
    {
        var rng = new SeededRandom(seed);
        var x = TensorGen.Random(rng, TensorGen.RandomShape(rng), DType.Int32, TensorGen.AllLayouts[rng.Next(4)]);
        var xv = TensorGen.Values(x);
        foreach (var (name, op, f) in FloatUnary.Where(c => c.Name is "Exp" or "Sigmoid" or "Tanh" or "Erf" or "Gelu" or "Pow(1.7)" or "Clamp(-0.5,1)"))
        {
            var y = op(x);
            Assert.Equal(DType.Float32, y.DType);
            Check.Close(xv.Select(f).ToArray(), y, Check.Tol(DType.Float32), what: name);
        }
    }

    private static readonly (string Name, Func<Tensor, Tensor, Tensor> Op, Func<double, double, double> Ref)[] Arith =
    [
        ("Add", (a, b) => a + b, (x, y) => x + y),
        ("Sub", (a, b) => a - b, (x, y) => x - y),
        ("Mul", (a, b) => a * b, (x, y) => x * y),
        ("Maximum", (a, b) => a.Maximum(b), Math.Max),
        ("Minimum", (a, b) => a.Minimum(b), Math.Min),
    ];

    [Property(MaxTest = 25)]
    public void BinaryOpsBroadcastOverAllLayouts(long seed)
    {
        var rng = new SeededRandom(seed);
        var shape = TensorGen.RandomShape(rng);
        var partner = TensorGen.BroadcastPartner(rng, shape);
        if (rng.Next(2) == 0) (shape, partner) = (partner, shape);
        var outShape = ShapeUtil.Broadcast(shape, partner);
        foreach (var dtype in Floats.Concat(Ints))
        {
            var a = TensorGen.Random(rng, shape, dtype, TensorGen.AllLayouts[rng.Next(4)]);
            var b = TensorGen.Random(rng, partner, dtype, TensorGen.AllLayouts[rng.Next(4)]);
            var av = BroadcastValues(a, outShape);
            var bv = BroadcastValues(b, outShape);
            var cases = Arith.Concat(
            [
                ("Div", (p, q) => p / q, (x, y) => x / y),
                ("Pow", (p, q) => p.Pow(q), dtype.IsFloating() ? Math.Pow : IntPow),
            ]);
            foreach (var (name, op, f) in cases)
            {
                var y = op(a, b);
                var expectType = name == "Div" && !dtype.IsFloating() ? DType.Float32 : dtype;
                Assert.Equal(expectType, y.DType);
                Check.Shape(y, outShape);
                var expected = av.Zip(bv, f).Select(v => ToDType(v, expectType)).ToArray();
                Check.Close(expected, y, Check.Tol(expectType), what: $"{name} {dtype.Name()} {ShapeUtil.Format(shape)} {ShapeUtil.Format(partner)}");
            }
        }
    }

    private static double IntPow(double a, double b)
    {
        if (b >= 0) return Math.Pow(a, b);
        return a == 1 ? 1 : a == -1 ? (b % 2 == 0 ? 1 : -1) : 0;
    }

    [Property(MaxTest = 20)]
    public void ScalarOperandsFollowPromotionRules(long seed)
    {
        var rng = new SeededRandom(seed);
        var shape = TensorGen.RandomShape(rng);
        foreach (var dtype in new[] { DType.Bool, DType.Int32, DType.Int64, DType.Float32, DType.Float64 })
        {
            var x = TensorGen.Random(rng, shape, dtype, TensorGen.AllLayouts[rng.Next(4)]);
            var xv = TensorGen.Values(x);
            foreach (double s in new[] { 3.0, -2.0, 0.75 })
            {
                var t = dtype.IsFloating() ? dtype : Promotion(dtype, s);
                var cases = new (string, Tensor, Func<double, double>, DType)[]
                {
                    ("x+s", x + s, v => v + s, t), ("s+x", s + x, v => s + v, t),
                    ("x-s", x - s, v => v - s, t), ("s-x", s - x, v => s - v, t),
                    ("x*s", x * s, v => v * s, t), ("s*x", s * x, v => s * v, t),
                    ("x/s", x / s, v => v / s, dtype.IsFloating() ? dtype : DType.Float32),
                    ("s/x", s / x, v => s / v, dtype.IsFloating() ? dtype : DType.Float32),
                    ("max", x.Maximum(s), v => Math.Max(v, s), t), ("min", x.Minimum(s), v => Math.Min(v, s), t),
                };
                foreach (var (name, y, f, expectType) in cases)
                {
                    Assert.True(expectType == y.DType, $"{name} on {dtype.Name()} with {s}: dtype {y.DType.Name()}, expected {expectType.Name()}");
                    // the scalar is first rounded to the compute dtype (float32 for 0.75 is exact)
                    Check.Close(xv.Select(v => ToDType(f(v), expectType)).ToArray(), y, Check.Tol(expectType), what: $"{name} {dtype.Name()} s={s}");
                }
            }
        }
    }

    private static DType Promotion(DType t, double s) => s != Math.Floor(s) ? DType.Float32 : t == DType.Bool ? DType.Int64 : t;

    [Fact]
    public void TensorTensorPromotionTable()
    {
        var all = new[] { DType.Bool, DType.Int32, DType.Int64, DType.Float32, DType.Float64 };
        foreach (var da in all)
            foreach (var db in all)
            {
                var a = Tensor.Ones([2], da);
                var b = Tensor.Ones([2], db);
                var promoted = (DType)Math.Max((int)da, (int)db);
                var arith = promoted == DType.Bool ? DType.Int64 : promoted;
                Assert.Equal(arith, (a + b).DType);
                Assert.Equal(arith.IsFloating() ? arith : DType.Float32, (a / b).DType);
                Assert.Equal(DType.Bool, a.Lt(b).DType);
                Assert.Equal(new[] { 2.0, 2.0 }, (a + b).ToDoubleArray());
            }
    }

    [Property(MaxTest = 20)]
    public void ComparisonsGiveBoolWithTies(long seed)
    {
        var rng = new SeededRandom(seed);
        var shape = TensorGen.RandomShape(rng);
        var partner = TensorGen.BroadcastPartner(rng, shape);
        var outShape = ShapeUtil.Broadcast(shape, partner);
        var cmp = new (string, Func<Tensor, Tensor, Tensor>, Func<Tensor, double, Tensor>, Func<double, double, bool>)[]
        {
            ("Eq", (a, b) => a.Eq(b), (a, s) => a.Eq(s), (x, y) => x == y),
            ("Ne", (a, b) => a.Ne(b), (a, s) => a.Ne(s), (x, y) => x != y),
            ("Lt", (a, b) => a.Lt(b), (a, s) => a.Lt(s), (x, y) => x < y),
            ("Le", (a, b) => a.Le(b), (a, s) => a.Le(s), (x, y) => x <= y),
            ("Gt", (a, b) => a.Gt(b), (a, s) => a.Gt(s), (x, y) => x > y),
            ("Ge", (a, b) => a.Ge(b), (a, s) => a.Ge(s), (x, y) => x >= y),
        };
        foreach (var dtype in new[] { DType.Bool, DType.Int32, DType.Int64, DType.Float32, DType.Float64 })
        {
            var a = Quantize(TensorGen.Random(rng, shape, dtype, TensorGen.AllLayouts[rng.Next(4)]));
            var b = Quantize(TensorGen.Random(rng, partner, dtype, TensorGen.AllLayouts[rng.Next(4)]));
            var av = BroadcastValues(a, outShape);
            var bv = BroadcastValues(b, outShape);
            var av0 = TensorGen.Values(a);
            foreach (var (name, op, opScalar, f) in cmp)
            {
                var y = op(a, b);
                Assert.Equal(DType.Bool, y.DType);
                Check.Close(av.Zip(bv, (x, z) => f(x, z) ? 1.0 : 0.0).ToArray(), y, 0, 0, $"{name} {dtype.Name()}");
                var ys = opScalar(a, 1.0);
                Check.Close(av0.Select(x => f(x, 1.0) ? 1.0 : 0.0).ToArray(), ys, 0, 0, $"{name} scalar {dtype.Name()}");
            }
        }
    }

    [Property(MaxTest = 20)]
    public void LogicalOpsTreatNonzeroAsTrue(long seed)
    {
        var rng = new SeededRandom(seed);
        var shape = TensorGen.RandomShape(rng);
        var partner = TensorGen.BroadcastPartner(rng, shape);
        var outShape = ShapeUtil.Broadcast(shape, partner);
        foreach (var dtype in new[] { DType.Bool, DType.Int32, DType.Float32 })
        {
            var a = TensorGen.Random(rng, shape, dtype, TensorGen.AllLayouts[rng.Next(4)]);
            var b = TensorGen.Random(rng, partner, DType.Bool, TensorGen.AllLayouts[rng.Next(4)]);
            var av = BroadcastValues(a, outShape);
            var bv = BroadcastValues(b, outShape);
            Check.Close(TensorGen.Values(a).Select(v => v == 0 ? 1.0 : 0.0).ToArray(), a.LogicalNot(), 0, 0, "Not");
            Check.Close(av.Zip(bv, (x, y) => x != 0 && y != 0 ? 1.0 : 0.0).ToArray(), a.LogicalAnd(b), 0, 0, "And");
            Check.Close(av.Zip(bv, (x, y) => x != 0 || y != 0 ? 1.0 : 0.0).ToArray(), a.LogicalOr(b), 0, 0, "Or");
            Assert.Equal(DType.Bool, a.LogicalOr(b).DType);
        }
    }

    [Property(MaxTest = 20)]
    public void WhereAndMaskedFillBroadcastAllOperands(long seed)
    {
        var rng = new SeededRandom(seed);
        var shape = TensorGen.RandomShape(rng);
        var condShape = TensorGen.BroadcastPartner(rng, shape);
        var bShape = TensorGen.BroadcastPartner(rng, shape);
        foreach (var dtype in new[] { DType.Bool, DType.Int32, DType.Int64, DType.Float32, DType.Float64 })
        {
            var cond = TensorGen.Random(rng, condShape, DType.Bool, TensorGen.AllLayouts[rng.Next(4)]);
            var a = TensorGen.Random(rng, shape, dtype, TensorGen.AllLayouts[rng.Next(4)]);
            var b = TensorGen.Random(rng, bShape, dtype, TensorGen.AllLayouts[rng.Next(4)]);
            var cv = BroadcastValues(cond, shape);
            var av = BroadcastValues(a, shape);
            var bv = BroadcastValues(b, shape);
            var y = Tensor.Where(cond, a, b);
            Assert.Equal(dtype, y.DType);
            Check.Close(cv.Select((c, i) => c != 0 ? av[i] : bv[i]).ToArray(), y, 0, 0, $"Where {dtype.Name()}");

            var m = a.MaskedFill(cond, 1.5);
            Assert.Equal(dtype, m.DType);
            Check.Close(cv.Select((c, i) => c != 0 ? ToDType(1.5, dtype) : av[i]).ToArray(), m, 0, 0, $"MaskedFill {dtype.Name()}");

            var ws = Tensor.Where(cond, a, -1.0);
            Check.Close(cv.Select((c, i) => c != 0 ? av[i] : -1).ToArray(), ws, 0, 0, $"Where scalar {dtype.Name()}");
        }
    }

    [Fact]
    public void NaNPropagatesThroughMaxMinReluClampAndComparesFalse()
    {
        var x = Tensor.FromArray(new[] { float.NaN, 1f, -1f, float.PositiveInfinity, float.NegativeInfinity });
        var y = Tensor.FromArray(new[] { 0f, float.NaN, 2f, 1f, 1f });
        Assert.Equal(new double[] { double.NaN, double.NaN, 2, double.PositiveInfinity, 1 }, x.Maximum(y).ToDoubleArray());
        Assert.Equal(new double[] { double.NaN, double.NaN, -1, 1, double.NegativeInfinity }, x.Minimum(y).ToDoubleArray());
        Assert.Equal(new double[] { double.NaN, 1, 0, double.PositiveInfinity, 0 }, x.Relu().ToDoubleArray());
        Assert.Equal(new double[] { double.NaN, 1, 0, 1, 0 }, x.Clamp(0, 1).ToDoubleArray());
        Assert.Equal(new double[] { 0, 1, 1, 1, 1 }, x.Eq(x).ToDoubleArray());
        Assert.Equal(new double[] { 1, 0, 0, 0, 0 }, x.Ne(x).ToDoubleArray());
        Assert.Equal(new double[] { 0, 0, 0, 0, 0 }, x.Lt(y).ToDoubleArray().Select((v, i) => i < 2 ? v : 0).ToArray());
        Assert.Equal(new double[] { 0, 1, 1, 0, 0 }, x.IsFinite().ToDoubleArray());
        Assert.Equal(new double[] { 1, 1 }, Tensor.FromArray(new[] { 3, 4 }).IsFinite().ToDoubleArray());
        Check.Close([double.NaN, Math.Tanh(1), -Math.Tanh(1), 1, -1], x.Tanh(), 1e-7, what: "tanh");
        Assert.Equal(new double[] { 0, 1, 0 }, Tensor.FromArray(new[] { float.NegativeInfinity, float.PositiveInfinity, -200f }).Sigmoid().ToDoubleArray());
        Assert.Equal(new double[] { -1, 1 }, Tensor.FromArray(new[] { double.NegativeInfinity, double.PositiveInfinity }).Erf().ToDoubleArray());
        Assert.Equal(new double[] { -1, 1 }, Tensor.FromArray(new[] { float.NegativeInfinity, float.PositiveInfinity }).Erf().ToDoubleArray());
        Assert.Equal(new double[] { 0, double.PositiveInfinity }, Tensor.FromArray(new[] { -1e4f, float.PositiveInfinity }).Gelu().ToDoubleArray().Select(Math.Abs));
    }

    [Fact]
    public void ZeroElementAndZeroDimTensors()
    {
        var e = Tensor.Zeros([0, 3]);
        Check.Shape(e + Tensor.Ones([3]), 0, 3);
        Check.Shape(e.Exp(), 0, 3);
        Check.Shape(Tensor.Where(e.Gt(0), e, 1.0), 0, 3);
        var s = Tensor.Scalar(2.5);
        Check.Shape(s * s, []);
        Assert.Equal(6.25, (s * s).Item());
        Assert.Equal(new double[] { 3.5, 4.5 }, (s + Tensor.FromArray(new[] { 1f, 2f })).ToDoubleArray());
    }
}
