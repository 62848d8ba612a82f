using Sparkle.Autograd;
using Sparkle.Benchmarks.Elementwise;
using Sparkle.Benchmarks.Quick;
using Sparkle.Tensors;

namespace Sparkle.Benchmarks.Autograd;

/// <summary>`quick autograd`: the cost of recording. A tiny op (4 elements, so the kernel is negligible) with
/// and without an input that requires grad; a small MLP step (forward, backward, SGD) on 64x32 inputs; and the
/// same MLP's forward alone, so backward/forward can be read off. Times are per iteration.</summary>
public sealed class AutogradQuickSuite : IQuickSuite
{
    public string Name => "autograd";

    public void Run(string[] args)
    {
        var a = Tensor.Ones([4]);
        var leaf = Tensor.Ones([4]).RequireGrad();
        var plain = AddQuickSuite.Measure(() => { for (int i = 0; i < 1000; i++) _ = a * a; });
        var recorded = AddQuickSuite.Measure(() => { for (int i = 0; i < 1000; i++) _ = leaf * a; });
        Console.WriteLine($"autograd tiny_mul plain_us={plain.MedianMs:F3} recorded_us={recorded.MedianMs:F3} overhead_us={recorded.MedianMs - plain.MedianMs:F3}");

        var g = new Generator(0);
        var x = Tensor.Randn([64, 32], g);
        var w1 = (Tensor.Randn([32, 64], g) * 0.1).RequireGrad();
        var w2 = (Tensor.Randn([64, 10], g) * 0.1).RequireGrad();
        Tensor Forward() => x.MatMul(w1).Relu().MatMul(w2).Square().Mean();
        var forward = AddQuickSuite.Measure(() => Forward());
        var step = AddQuickSuite.Measure(() =>
        {
            Forward().Backward();
            using var _ = GradMode.NoGrad();
            w1.Sub_(w1.Grad!, alpha: 0.01); w1.Grad = null;
            w2.Sub_(w2.Grad!, alpha: 0.01); w2.Grad = null;
        });
        Console.WriteLine($"autograd mlp_64x32x64x10 forward_ms={forward.MedianMs:F3} step_ms={step.MedianMs:F3} step_over_forward={step.MedianMs / forward.MedianMs:F2}");
    }
}
