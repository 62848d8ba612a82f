using Sparkle.Autograd;
using Sparkle.Nn;
using Sparkle.Nn.Layers;
using Sparkle.Tensors;
using Sparkle.Tests.Support;
using Xunit;

namespace Sparkle.Tests.Nn;

/// <summary>The module tree: timm-style names, registration order, modes, state dicts and their errors, init.</summary>
public class ModuleTests
{
    /// <summary>A block shaped like timm's ResNet BasicBlock (names only; linear layers stand in for convs).</summary>
    private sealed class Block : Module
    {
        public readonly Linear Conv1;
        public readonly BatchNorm1d Bn1;
        public readonly Sequential Downsample;

        public Block(int seed, int inFeatures)
        {
            Conv1 = RegisterModule("conv1", new Linear(inFeatures, 4, bias: false, generator: new Generator((ulong)seed)));
            Bn1 = RegisterModule("bn1", new BatchNorm1d(4));
            Downsample = RegisterModule("downsample", new Sequential(new Linear(inFeatures, 4, generator: new Generator((ulong)seed + 1)), new BatchNorm1d(4)));
        }

        public override Tensor Forward(Tensor x) => (Bn1.Forward(Conv1.Forward(x)) + Downsample.Forward(x)).Relu();
    }

    private sealed class Net : Module
    {
        public readonly Sequential Layer1;
        public readonly Linear Fc;

        public Net(int seed = 0)
        {
            Layer1 = RegisterModule("layer1", new Sequential(new Block(seed, 3), new Block(seed + 10, 4)));
            Fc = RegisterModule("fc", new Linear(4, 2, generator: new Generator((ulong)seed + 20)));
        }

        public override Tensor Forward(Tensor x) => Fc.Forward(Layer1.Forward(x));
    }

    [Fact]
    public void NamesFollowTimmAndRegistrationOrder()
    {
        var keys = new Net().StateDict().Keys.ToArray();
        Assert.Equal(new[]
        {
            "layer1.0.conv1.weight", "layer1.0.bn1.weight", "layer1.0.bn1.bias", "layer1.0.bn1.running_mean", "layer1.0.bn1.running_var",
            "layer1.0.bn1.num_batches_tracked", "layer1.0.downsample.0.weight", "layer1.0.downsample.0.bias", "layer1.0.downsample.1.weight",
            "layer1.0.downsample.1.bias", "layer1.0.downsample.1.running_mean", "layer1.0.downsample.1.running_var", "layer1.0.downsample.1.num_batches_tracked",
        }, keys.Take(13));
        Assert.Equal(new[] { "fc.weight", "fc.bias" }, keys.TakeLast(2));
        var parameterNames = new Net().NamedParameters().Select(p => p.Name).ToArray();
        Assert.DoesNotContain(parameterNames, n => n.Contains("running") || n.Contains("num_batches"));
        Assert.Equal((12 + 4 + 4 + 12 + 4 + 4 + 4) + (16 + 4 + 4 + 16 + 4 + 4 + 4) + 8 + 2, new Net().NumParameters());
    }

    [Fact]
    public void ParametersRequireGradAndBuffersDoNot()
    {
        var net = new Net();
        Assert.All(net.Parameters(), p => Assert.True(p.RequiresGrad && p.IsLeaf));
        Assert.All(net.NamedBuffers(), b => Assert.False(b.Buffer.RequiresGrad));
        Assert.Equal(DType.Int64, net.StateDict()["layer1.0.bn1.num_batches_tracked"].DType);
    }

    [Fact]
    public void TrainAndEvalReachEveryDescendant()
    {
        var net = new Net();
        net.Eval();
        Assert.All(net.NamedModules(), m => Assert.False(m.Module.Training));
        net.Train();
        Assert.All(net.NamedModules(), m => Assert.True(m.Module.Training));
    }

    [Fact]
    public void StateDictRoundTripCopiesValuesInPlace()
    {
        var a = new Net(seed: 1);
        var b = new Net(seed: 2);
        var weightBefore = b.Fc.Weight;
        b.LoadStateDict(a.StateDict());
        Assert.Same(weightBefore, b.Fc.Weight);                 // same tensor: optimizers keep working
        foreach (var (key, value) in a.StateDict())
            Assert.Equal(value.ToDoubleArray(), b.StateDict()[key].ToDoubleArray());
    }

    [Fact]
    public void StrictLoadListsMissingUnexpectedAndMisShapedKeys()
    {
        var net = new Net();
        var state = net.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value);
        state.Remove("fc.bias");
        state["fc.extra"] = Tensor.Zeros([1]);
        state["layer1.1.conv1.weight"] = Tensor.Zeros([5, 4]);
        var e = Assert.Throws<InvalidOperationException>(() => net.LoadStateDict(state));
        Assert.Contains("missing keys (1): fc.bias", e.Message);
        Assert.Contains("unexpected keys (1): fc.extra", e.Message);
        Assert.Contains("layer1.1.conv1.weight: expected (4, 4), got (5, 4)", e.Message);
        state["layer1.1.conv1.weight"] = Tensor.Zeros([4, 4]);
        var result = net.LoadStateDict(state, strict: false);
        Assert.Equal(["fc.bias"], result.MissingKeys);
        Assert.Equal(["fc.extra"], result.UnexpectedKeys);
        Assert.Throws<InvalidOperationException>(() => net.LoadStateDict(new Dictionary<string, Tensor> { ["fc.weight"] = Tensor.Zeros([3, 3]) }, strict: false));
    }

    [Fact]
    public void AShapeOneValueLoadsIntoAScalarAsInTorch()
    {
        var net = new Net();
        var state = net.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.Clone());
        state["layer1.0.bn1.num_batches_tracked"] = Tensor.FromArray(new[] { 9L }, [1]);   // torch < 0.4 and some converters
        net.LoadStateDict(state);
        Assert.Equal(0, net.StateDict()["layer1.0.bn1.num_batches_tracked"].Rank);
        Assert.Equal(9L, net.StateDict()["layer1.0.bn1.num_batches_tracked"].Get<long>());
        state["layer1.0.bn1.num_batches_tracked"] = Tensor.FromArray(new[] { 9L, 9L }, [2]);
        Assert.Throws<InvalidOperationException>(() => net.LoadStateDict(state));
        Assert.False(Module.ShapeFits([1], []));                            // only a (1) value into a 0-d target
    }

    [Fact]
    public void BackwardReachesEveryParameterAndZeroGradClears()
    {
        var net = new Net();
        var x = Tensor.Randn([5, 3], new Generator(4));
        net.Forward(x).Square().Mean().Backward();
        Assert.All(net.NamedParameters(), p => Assert.True(p.Parameter.Grad is not null, $"{p.Name} has no grad"));
        net.ZeroGrad();
        Assert.All(net.Parameters(), p => Assert.Null(p.Grad));
    }

    [Fact]
    public void SequentialAndModuleListNameChildrenByIndex()
    {
        var list = new ModuleList(new ReLU(), new Linear(2, 2));
        Assert.Equal(["", "0", "1"], list.NamedModules().Select(m => m.Name));
        Assert.Equal(["1.weight", "1.bias"], list.NamedParameters().Select(p => p.Name));
        var seq = new Sequential(new Linear(2, 3), new ReLU(), new Linear(3, 1));
        Check.Shape(seq.Forward(Tensor.Zeros([4, 2])), 4, 1);
    }

    [Fact]
    public void ReplaceChildTakesEffectInForwardAndKeepsNames()
    {
        var seq = new Sequential(new Linear(2, 2), new ReLU());
        seq.ReplaceChild("1", new Identity());
        var x = Tensor.FromArray(new float[] { -1, -1 }, [1, 2]);
        Check.Close(((Linear)seq[0]).Forward(x).ToDoubleArray(), seq.Forward(x), 0);
        Assert.IsType<Identity>(seq[1]);
        Assert.Equal(["0.weight", "0.bias"], seq.NamedParameters().Select(p => p.Name));
        Assert.Throws<ArgumentException>(() => seq.ReplaceChild("7", new ReLU()));
    }

    [Fact]
    public void DuplicateOrDottedNamesAreRejected()
    {
        Assert.Throws<ArgumentException>(() => new BadModule("a.b"));
        Assert.Throws<ArgumentException>(() => new BadModule("x", twice: true));
    }

    private sealed class BadModule : Module
    {
        public BadModule(string name, bool twice = false)
        {
            RegisterParameter(name, Tensor.Zeros([1]));
            if (twice) RegisterBuffer(name, Tensor.Zeros([1]));
        }
    }

    [Fact]
    public void DefaultInitMatchesPyTorchBounds()
    {
        var layer = new Linear(50, 400, generator: new Generator(5));
        double bound = 1 / Math.Sqrt(50);
        var w = layer.Weight.ToDoubleArray();
        Assert.All(w, v => Assert.InRange(v, -bound, bound));
        // U(-b, b) has std b / sqrt(3).
        Assert.InRange(Std(w), 0.95 * bound / Math.Sqrt(3), 1.05 * bound / Math.Sqrt(3));
        Assert.All(layer.Bias!.ToDoubleArray(), v => Assert.InRange(v, -bound, bound));
    }

    [Fact]
    public void KaimingAndTruncNormalFollowTheirFormulas()
    {
        var w = Tensor.Zeros([256, 64, 3, 3]);
        Init.KaimingNormal_(w, mode: FanMode.FanOut, nonlinearity: Nonlinearity.Relu, generator: new Generator(6));
        double expected = Math.Sqrt(2.0 / (256 * 9));
        Assert.InRange(Std(w.ToDoubleArray()), 0.98 * expected, 1.02 * expected);
        Init.KaimingUniform_(w, generator: new Generator(7));          // a = 0, leaky_relu: gain sqrt 2, fan_in 576
        double bound = Math.Sqrt(2) * Math.Sqrt(3.0 / 576);
        Assert.All(w.ToDoubleArray(), v => Assert.InRange(v, -bound, bound));
        var t = Tensor.Zeros([10000]);
        Init.TruncNormal_(t, std: 0.02, a: -0.02, b: 0.02, generator: new Generator(8));   // absolute bounds (SparK mask tokens)
        Assert.All(t.ToDoubleArray(), v => Assert.InRange(v, -0.02, 0.02));
        Assert.Equal((576, 2304), Init.Fans(w));
    }

    [Fact]
    public void InitOnAParameterIsNotRecorded()
    {
        var layer = new Linear(2, 2);
        Init.Constant_(layer.Weight, 0.5);
        Assert.True(layer.Weight.IsLeaf);
        Assert.All(layer.Weight.ToDoubleArray(), v => Assert.Equal(0.5, v));
        Assert.True(GradMode.IsEnabled);
    }

    private static double Std(double[] v)
    {
        double mean = v.Average();
        return Math.Sqrt(v.Sum(x => (x - mean) * (x - mean)) / v.Length);
    }
}
