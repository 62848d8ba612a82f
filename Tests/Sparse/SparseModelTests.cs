using FsCheck.Xunit;
using Sparkle.Autograd;
using Sparkle.Nn;
using Sparkle.Nn.Layers;
using Sparkle.Sparse;
using Sparkle.Sparse.Layers;
using Sparkle.Tensors;
using Sparkle.Tests.Support;
using Xunit;
using static Sparkle.Tests.Sparse.SparseTestUtil;

namespace Sparkle.Tests.Sparse;

/// <summary>A small ResNet-like stack written from Nn layers: stem conv-bn-relu, a basic residual block, a stride-2
/// conv-bn-relu, a 1x1 conv, a max pool and a ConvNeXt-style depthwise 3x3 + LayerNorm2d.</summary>
internal sealed class TinyResNet : Module
{
    public TinyResNet(DType dt, Generator gen)
    {
        RegisterModule("conv1", new Conv2d(3, 8, 3, padding: 1, bias: false, dtype: dt, generator: gen));
        RegisterModule("bn1", new BatchNorm2d(8, dtype: dt));
        RegisterModule("conv2", new Conv2d(8, 8, 3, padding: 1, bias: false, dtype: dt, generator: gen));
        RegisterModule("bn2", new BatchNorm2d(8, dtype: dt));
        RegisterModule("conv3", new Conv2d(8, 8, 3, padding: 1, bias: false, dtype: dt, generator: gen));
        RegisterModule("bn3", new BatchNorm2d(8, dtype: dt));
        RegisterModule("down", new Conv2d(8, 12, 3, stride: 2, padding: 1, bias: false, dtype: dt, generator: gen));
        RegisterModule("bn4", new BatchNorm2d(12, dtype: dt));
        RegisterModule("pw", new Conv2d(12, 12, 1, dtype: dt, generator: gen));
        RegisterModule("dw", new Conv2d(12, 12, 3, padding: 1, groups: 12, dtype: dt, generator: gen));
        RegisterModule("ln", new LayerNorm2d(12, dtype: dt));
        RegisterModule("pool", new MaxPool2d(3, 1, 1));
    }

    public override Tensor Forward(Tensor x)
    {
        x = Child<Module>("bn1").Forward(Child<Module>("conv1").Forward(x)).Relu();
        var r = Child<Module>("bn2").Forward(Child<Module>("conv2").Forward(x)).Relu();
        r = Child<Module>("bn3").Forward(Child<Module>("conv3").Forward(r));
        x = (x + r).Relu();
        x = Child<Module>("bn4").Forward(Child<Module>("down").Forward(x)).Relu();
        x = Child<Module>("pw").Forward(x);
        x = Child<Module>("ln").Forward(Child<Module>("dw").Forward(x));
        return Child<Module>("pool").Forward(x.Relu());
    }
}

public class SparseModelTests
{
    [Fact]
    public void ConversionSharesTensorsAndKeepsStateDictKeys()
    {
        var model = new TinyResNet(DType.Float32, new Generator(1));
        var before = model.StateDict().ToList();
        var sparse = SparseConversion.ToSparse(model);
        Assert.Same(model, sparse);
        var after = model.StateDict().ToList();
        Assert.Equal(before.Select(kv => kv.Key), after.Select(kv => kv.Key));
        for (int i = 0; i < before.Count; i++) Assert.Same(before[i].Value, after[i].Value);
        Assert.Equal(
            ["conv1", "bn1", "conv2", "bn2", "conv3", "bn3", "down", "bn4", "pw", "dw", "ln", "pool"],
            model.NamedChildren().Where(c => c.Module is ISparseLayer).Select(c => c.Name));
        Assert.Equal(model.Parameters().Count(), new TinyResNet(DType.Float32, new Generator(1)).Parameters().Count());

        // The sparse encoder's state dict loads into a fresh dense model unchanged.
        var fresh = new TinyResNet(DType.Float32, new Generator(2));
        fresh.LoadStateDict(model.StateDict());
        foreach (var (k, v) in fresh.StateDict()) Near(model.StateDict()[k], v, 0, k);

        SparseConversion.ToDense(model);
        Assert.DoesNotContain(model.NamedModules(), m => m.Module is ISparseLayer);
        var dense = model.StateDict().ToList();
        for (int i = 0; i < before.Count; i++) Assert.Same(before[i].Value, dense[i].Value);
    }

    [Property(MaxTest = 12)]
    public void MaskedPixelsChangeNothing(long seed)
    {
        // f = 2, 8x8 input: maps of 8 and 4 (stride 2) are multiples of the grid. Float64 (SPARK.md §8.25). Every case
        // has a masked patch (else the noise below lands nowhere and the case checks nothing) and an active one.
        var rng = new SeededRandom(seed);
        int n = rng.Next(1, 3);
        var mask = RandomMask(rng, n, 2, minActive: 1, minMasked: 1 + rng.Next(2));
        var x0 = TensorGen.Random(rng, [n, 3, 8, 8], DType.Float64);
        var results = new List<double[]>();
        for (int run = 0; run < 2; run++)
        {
            var model = SparseConversion.ToSparse(new TinyResNet(DType.Float64, new Generator(7)));
            using var ctx = SparseContext.Begin(mask);
            var m = ctx.DenseMask(8, 8, DType.Float64);
            var noise = run == 0 ? Tensor.Zeros([n, 3, 8, 8], DType.Float64) : TensorGen.Random(rng, [n, 3, 8, 8], DType.Float64) * 5.0;
            var x = (x0 * m + noise * (1.0 - m)).RequireGrad();
            var y = model.Forward(x);
            ZeroAtMasked(y, ctx, "model output");
            (y * y).Sum().Backward();
            var grads = model.Parameters().SelectMany(p => p.Grad!.ToDoubleArray());
            var stats = model.NamedBuffers().Where(b => b.Name.Contains("running")).SelectMany(b => b.Buffer.ToDoubleArray());
            results.Add([.. y.ToDoubleArray(), .. (x.Grad! * m).ToDoubleArray(), .. grads, .. stats]);
        }
        Assert.Equal(results[0], results[1]);
    }

    [Fact]
    public void SparseStackMatchesMaskedDenseStack()
    {
        // The same stack run through the oracle ops by hand (masked-dense conv, masked-statistics BN, LN × m, pool × m).
        var rng = new Random(3);
        var mask = RandomMask(rng, 2, 2);
        var x0 = TensorGen.Random(rng, [2, 3, 8, 8], DType.Float64);
        var sparse = (TinyResNet)SparseConversion.ToSparse(new TinyResNet(DType.Float64, new Generator(9)));
        var dense = new TinyResNet(DType.Float64, new Generator(9));
        using var ctx = SparseContext.Begin(mask);
        var ys = sparse.Forward(x0);
        var d = dense.NamedChildren().ToDictionary(c => c.Name, c => c.Module);
        Tensor C(string name, Tensor x) { var c = (Conv2d)d[name]; return MaskedDense.Conv2d(x, c.Weight, c.Bias, c.Stride, c.Padding, c.Dilation, c.Groups); }
        Tensor B(string name, Tensor x) { var b = (BatchNorm2d)d[name]; return MaskedDense.BatchNorm2d(x, b.RunningMean, b.RunningVar, b.Weight, b.Bias, true); }
        var h = B("bn1", C("conv1", x0)).Relu();
        var r = B("bn3", C("conv3", B("bn2", C("conv2", h)).Relu()));
        h = (h + r).Relu();
        h = B("bn4", C("down", h)).Relu();
        h = C("pw", h);
        var ln = (LayerNorm2d)d["ln"];
        h = SparseOps.ApplyMask(Sparkle.Nn.Functional.LayerNorm2d(C("dw", h), ln.Weight, ln.Bias));
        var yd = SparseOps.ApplyMask(Sparkle.Nn.Functional.MaxPool2d(h.Relu(), 3, 1, 1));
        Near(yd, ys, 1e-10, "stack output");
    }

    [Fact]
    public void ContextsNestAndRestore()
    {
        var a = new ActiveMask(1, 1, 1, [true]);
        var b = new ActiveMask(1, 1, 1, [false]);
        Assert.Null(SparseContext.Current);
        using (var ca = SparseContext.Begin(a))
        {
            using (SparseContext.Begin(b)) Assert.Same(b, SparseContext.Current!.Mask);
            Assert.Same(ca, SparseContext.Current);
        }
        Assert.Null(SparseContext.Current);
    }

    [Fact]
    public void RandomMaskKeepsLenKeepPerImage()
    {
        var m = ActiveMask.Random(3, 7, 0.6, new Random(1));
        for (int b = 0; b < 3; b++)
        {
            int k = 0;
            for (int i = 0; i < 7; i++) for (int j = 0; j < 7; j++) k += m[b, i, j] ? 1 : 0;
            Assert.Equal(20, k); // round(49 * 0.4) = 20 (SPARK.md §1.1)
        }
        Check.Shape(m.ToTensor(), 3, 1, 7, 7);
    }
}
