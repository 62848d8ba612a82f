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
    private static readonly DType[] Both = [DType.Float64, DType.Float32];

    /// <summary>Loads the named golden tensors as leaves that require grad, runs f, back-propagates R and compares
    /// out and every grad_&lt;name&gt; the file holds.</summary>
    private static void RunCase(string file, string name, DType dtype, string[] inputs, Func<Dictionary<string, Tensor>, Tensor> f,
        Dictionary<string, Golden.Entry>? g = null)
    {
        g ??= Golden.Load(file);
        var leaves = new Dictionary<string, Tensor>();
        foreach (var key in inputs)
            if (g.TryGetValue($"{name}/{key}", out var e))
                leaves[key] = ToTensor(e, dtype).RequireGrad();
        var output = f(leaves);
        AssertNormwise(g[$"{name}/out"], output, dtype);
        output.Backward(ToTensor(g[$"{name}/R"], dtype));
        foreach (var (key, leaf) in leaves)
            if (g.TryGetValue($"{name}/grad_{key}", out var expected))
                AssertNormwise(expected, leaf.Grad!, dtype);
    }

    public static TheoryData<string, DType> Cases(params string[] names)
    {
        var d = new TheoryData<string, DType>();
        foreach (var n in names) foreach (var t in Both) d.Add(n, t);
        return d;
    }

    public static TheoryData<string, DType> LinearCases() => Cases("linear_2d", "linear_2d_nobias", "linear_4d_nhwc", "linear_4d_nhwc_x4");
    public static TheoryData<string, DType> PoolCases() => Cases("max_pool2d_k3_s2_p1", "max_pool2d_k3_s2_p1_even", "avg_pool2d_k2_s2",
        "avg_pool2d_k3_s1_p1_incpad", "avg_pool2d_k3_s1_p1_excpad", "avg_pool2d_k3_s2_p1_incpad", "avg_pool2d_k3_s2_p1_excpad", "adaptive_avg_pool2d_1x1");
    public static TheoryData<string, DType> NormCases() => Cases("layer_norm_last", "layer_norm_last_2d", "layer_norm_cf");
    public static TheoryData<string, DType> BatchNormCases() => Cases("batch_norm2d_train", "batch_norm2d_train_c8", "batch_norm2d_train_offset50", "batch_norm2d_eval");
    public static TheoryData<string, DType> LossCases() => Cases("mse_loss_mean", "cross_entropy", "cross_entropy_ls01", "soft_target_cross_entropy");

    [Theory, MemberData(nameof(LinearCases))]
    public void LinearMatchesPyTorch(string name, DType dtype) =>
        RunCase("linear.safetensors", name, dtype, ["x", "weight", "bias"], t =>
        {
            var y = t["x"].MatMul(t["weight"].T);
            return t.TryGetValue("bias", out var b) ? y + b : y;
        });

    [Theory, MemberData(nameof(PoolCases))]
    public void PoolingMatchesPyTorch(string name, DType dtype) =>
        RunCase("pooling.safetensors", name, dtype, ["x"], t => name switch
        {
            "max_pool2d_k3_s2_p1" or "max_pool2d_k3_s2_p1_even" => Functional.MaxPool2d(t["x"], 3, 2, 1),
            "avg_pool2d_k2_s2" => Functional.AvgPool2d(t["x"], 2, 2),
            "avg_pool2d_k3_s1_p1_incpad" => Functional.AvgPool2d(t["x"], 3, 1, 1),
            "avg_pool2d_k3_s1_p1_excpad" => Functional.AvgPool2d(t["x"], 3, 1, 1, countIncludePad: false),
            "avg_pool2d_k3_s2_p1_incpad" => Functional.AvgPool2d(t["x"], 3, 2, 1),
            "avg_pool2d_k3_s2_p1_excpad" => Functional.AvgPool2d(t["x"], 3, 2, 1, countIncludePad: false),
            "adaptive_avg_pool2d_1x1" => Functional.AdaptiveAvgPool2d(t["x"], 1, 1),
            _ => throw new ArgumentException(name),
        });

    [Theory, MemberData(nameof(NormCases))]
    public void LayerNormMatchesPyTorch(string name, DType dtype) =>
        RunCase("layer_norm.safetensors", name, dtype, ["x", "weight", "bias"], t => name == "layer_norm_cf"
            ? Functional.LayerNorm2d(t["x"], t["weight"], t["bias"], 1e-6)
            : Functional.LayerNorm(t["x"], 1, t["weight"], t["bias"], 1e-6));

    [Theory, MemberData(nameof(BatchNormCases))]
    public void BatchNorm2dModuleMatchesPyTorch(string name, DType dtype)
    {
        var g = Golden.Load("batch_norm.safetensors");
        int c = g[$"{name}/weight"].Shape[0];
        var bn = new BatchNorm2d(c, dtype: dtype);
        var state = new Dictionary<string, Tensor>
        {
            ["weight"] = ToTensor(g[$"{name}/weight"], dtype),
            ["bias"] = ToTensor(g[$"{name}/bias"], dtype),
            ["running_mean"] = ToTensor(g[$"{name}/running_mean"], dtype),
            ["running_var"] = ToTensor(g[$"{name}/running_var"], dtype),
            ["num_batches_tracked"] = g.TryGetValue($"{name}/num_batches_tracked", out var n) ? ToTensor(n, DType.Int64) : Tensor.Zeros([], DType.Int64),
        };
        bn.LoadStateDict(state);
        bool training = name != "batch_norm2d_eval";
        bn.Train(training);
        var x = ToTensor(g[$"{name}/x"], dtype).RequireGrad();
        var y = bn.Forward(x);
        AssertNormwise(g[$"{name}/out"], y, dtype);
        y.Backward(ToTensor(g[$"{name}/R"], dtype));
        AssertNormwise(g[$"{name}/grad_x"], x.Grad!, dtype);
        AssertNormwise(g[$"{name}/grad_weight"], bn.Weight!.Grad!, dtype);
        AssertNormwise(g[$"{name}/grad_bias"], bn.Bias!.Grad!, dtype);
        if (training)
        {
            AssertNormwise(g[$"{name}/running_mean_after"], bn.RunningMean!, dtype);
            AssertNormwise(g[$"{name}/running_var_after"], bn.RunningVar!, dtype);
            Assert.Equal(DType.Int64, bn.NumBatchesTracked!.DType);
            Assert.Equal((long)g[$"{name}/num_batches_tracked_after"].Values[0], bn.NumBatchesTracked.Get<long>());
        }
    }

    [Theory, MemberData(nameof(LossCases))]
    public void LossesMatchPyTorch(string name, DType dtype)
    {
        var g = Golden.Load("losses.safetensors");
        var target = g[$"{name}/target"];
        var t = name.StartsWith("cross_entropy") ? ToTensor(target, DType.Int64) : ToTensor(target, dtype);
        RunCase("losses.safetensors", name, dtype, ["x"], l => name switch
        {
            "mse_loss_mean" => Functional.MseLoss(l["x"], t),
            "cross_entropy" => Functional.CrossEntropy(l["x"], t),
            "cross_entropy_ls01" => Functional.CrossEntropy(l["x"], t, labelSmoothing: 0.1),
            "soft_target_cross_entropy" => Functional.CrossEntropy(l["x"], t),
            _ => throw new ArgumentException(name),
        }, g);
    }
}
