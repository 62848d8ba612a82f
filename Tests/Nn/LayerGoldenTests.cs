using Sparkle.Nn;
using Sparkle.Nn.Layers;
using Sparkle.Tensors;
using Sparkle.Tests.Support;
using Xunit;
using static Sparkle.Tests.ElementwiseGoldenTests;

namespace Sparkle.Tests.Nn;

/// <summary>
/// PyTorch golden vectors (Tests/Golden/README.md) for the layers and losses: the forward result and the
/// gradients of L = sum(out * R) for every input and parameter, in float64 (normwise 1e-10) and float32 (1e-4).
/// </summary>
public class LayerGoldenTests
{
    /// <summary>Loads the named golden tensors as leaves that require grad, runs f, back-propagates R and compares
    /// out and every grad_&lt;name&gt; the case holds; then asserts the test read every tensor of the case.</summary>
    private static void RunCase(Golden.Case g, DType dtype, string[] inputs, Func<Dictionary<string, Tensor>, Tensor> f)
    {
        var leaves = new Dictionary<string, Tensor>();
        foreach (var key in inputs)
            if (g.TryGet(key, out var e))
                leaves[key] = ToTensor(e, dtype).RequireGrad();
        var output = f(leaves);
        AssertNormwise(g["out"], output, dtype);
        output.Backward(ToTensor(g["R"], dtype));
        foreach (var (key, leaf) in leaves)
            AssertNormwise(g["grad_" + key], leaf.Grad!, dtype);
        g.AssertAllRead();
    }

    public static TheoryData<string, DType> LinearCases() => CasesOf("linear.safetensors", "linear");
    public static TheoryData<string, DType> PoolCases() => CasesOf("pooling.safetensors", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d");
    public static TheoryData<string, DType> NormCases() => CasesOf("layer_norm.safetensors", "layer_norm", "layer_norm_channels_first");
    public static TheoryData<string, DType> BatchNormCases() => CasesOf("batch_norm.safetensors", "batch_norm2d");
    public static TheoryData<string, DType> LossCases() => CasesOf("losses.safetensors", "mse_loss", "cross_entropy", "soft_target_cross_entropy");

    [Theory, MemberData(nameof(LinearCases))]
    public void LinearMatchesPyTorch(string name, DType dtype)
    {
        var g = Golden.Open("linear.safetensors", name);
        Assert.Equal(g.Bool("bias"), g.Has("bias"));
        RunCase(g, dtype, ["x", "weight", "bias"], t =>
        {
            var y = t["x"].MatMul(t["weight"].T);
            return t.TryGetValue("bias", out var b) ? y + b : y;
        });
    }

    /// <summary>Kernel, stride, padding, count_include_pad and the output size come from each case's metadata.</summary>
    [Theory, MemberData(nameof(PoolCases))]
    public void PoolingMatchesPyTorch(string name, DType dtype)
    {
        var g = Golden.Open("pooling.safetensors", name);
        if (g.Op != "adaptive_avg_pool2d") Assert.False(g.Bool("ceil_mode"));
        if (g.Op == "max_pool2d") Assert.Equal(1, g.Int("dilation"));
        RunCase(g, dtype, ["x"], t => g.Op switch
        {
            "max_pool2d" => Functional.MaxPool2d(t["x"], g.Int("kernel_size"), g.Int("stride"), g.Int("padding")),
            "avg_pool2d" => Functional.AvgPool2d(t["x"], g.Int("kernel_size"), g.Int("stride"), g.Int("padding"), g.Bool("count_include_pad")),
            "adaptive_avg_pool2d" => Functional.AdaptiveAvgPool2d(t["x"], g.Ints("output_size")[0], g.Ints("output_size")[1]),
            _ => throw new ArgumentException(g.Op),
        });
    }

    /// <summary>eps and the normalised dims (normalized_shape / dim) from each case's metadata.</summary>
    [Theory, MemberData(nameof(NormCases))]
    public void LayerNormMatchesPyTorch(string name, DType dtype)
    {
        var g = Golden.Open("layer_norm.safetensors", name);
        double eps = g.Double("eps");
        RunCase(g, dtype, ["x", "weight", "bias"], t =>
        {
            if (g.Op == "layer_norm_channels_first")
            {
                Assert.Equal(1, g.Int("dim"));
                return Functional.LayerNorm2d(t["x"], t["weight"], t["bias"], eps);
            }
            var normalized = g.Ints("normalized_shape");
            Assert.Equal(normalized, t["x"].ShapeArray()[^normalized.Length..]);
            return Functional.LayerNorm(t["x"], normalized.Length, t["weight"], t["bias"], eps);
        });
    }

    /// <summary>training, momentum and eps from each case's metadata; running statistics after a training step.</summary>
    [Theory, MemberData(nameof(BatchNormCases))]
    public void BatchNorm2dModuleMatchesPyTorch(string name, DType dtype)
    {
        var g = Golden.Open("batch_norm.safetensors", name);
        int c = g["weight"].Shape[0];
        var bn = new BatchNorm2d(c, eps: g.Double("eps"), momentum: g.Double("momentum"), dtype: dtype);
        var state = new Dictionary<string, Tensor>
        {
            ["weight"] = ToTensor(g["weight"], dtype),
            ["bias"] = ToTensor(g["bias"], dtype),
            ["running_mean"] = ToTensor(g["running_mean"], dtype),
            ["running_var"] = ToTensor(g["running_var"], dtype),
            ["num_batches_tracked"] = g.TryGet("num_batches_tracked", out var n) ? ToTensor(n, DType.Int64) : Tensor.Zeros([], DType.Int64),
        };
        bn.LoadStateDict(state);
        bool training = g.Bool("training");
        bn.Train(training);
        var x = ToTensor(g["x"], dtype).RequireGrad();
        var y = bn.Forward(x);
        AssertNormwise(g["out"], y, dtype);
        y.Backward(ToTensor(g["R"], dtype));
        AssertNormwise(g["grad_x"], x.Grad!, dtype);
        AssertNormwise(g["grad_weight"], bn.Weight!.Grad!, dtype);
        AssertNormwise(g["grad_bias"], bn.Bias!.Grad!, dtype);
        Assert.Equal(training, g.Has("running_mean_after"));
        if (training)
        {
            AssertNormwise(g["running_mean_after"], bn.RunningMean!, dtype);
            AssertNormwise(g["running_var_after"], bn.RunningVar!, dtype);
            Assert.Equal(DType.Int64, bn.NumBatchesTracked!.DType);
            Assert.Equal((long)g["num_batches_tracked_after"].Values[0], bn.NumBatchesTracked.Get<long>());
        }
        g.AssertAllRead();
    }

    [Theory, MemberData(nameof(LossCases))]
    public void LossesMatchPyTorch(string name, DType dtype)
    {
        var g = Golden.Open("losses.safetensors", name);
        Assert.Equal("mean", g.Meta.GetProperty("reduction").GetString());
        var target = g["target"];
        var t = g.Op == "cross_entropy" ? ToTensor(target, DType.Int64) : ToTensor(target, dtype);
        RunCase(g, dtype, ["x"], l => g.Op switch
        {
            "mse_loss" => Functional.MseLoss(l["x"], t),
            "cross_entropy" => Functional.CrossEntropy(l["x"], t, labelSmoothing: g.Double("label_smoothing"), ignoreIndex: g.Meta.GetProperty("ignore_index").GetInt64()),
            "soft_target_cross_entropy" => Functional.CrossEntropy(l["x"], t),
            _ => throw new ArgumentException(g.Op),
        });
    }
}
