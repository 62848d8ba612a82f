using Sparkle.Benchmarks.Models;
using Sparkle.Benchmarks.Quick;
using Sparkle.Tensors;
using Sparkle.Tensors.Backend;
using Sparkle.Tensors.Cpu;

namespace Sparkle.Benchmarks.Elementwise;

/// <summary>`quick activation-backward [threads=2]`: the one-pass ReLU / ReLU6 backward kernels against the passes they
/// replaced (compare into a bool mask, [and], select), float32, SparK R18 encoder and decoder activation shapes, all
/// outputs preallocated (kernels only: fresh large outputs would time page faults). Lines:
/// `activation-backward op=relu shape=... median_ms=... select_ms=...`.</summary>
public sealed class ActivationBackwardQuickSuite : IQuickSuite
{
    public string Name => "activation-backward";

    public void Run(string[] args)
    {
        var opts = QuickArgs.Parse(args);
        IntraOpPool.NumThreads = opts.Int("threads", 2);
        foreach (int[] shape in new[] { new[] { 32, 64, 48, 48 }, [32, 64, 24, 24], [32, 48, 96, 96] })
        {
            var g = Tensor.Randn(shape, new Generator(1));
            var y = Tensor.Randn(shape, new Generator(2)).Mul_(4.0);
            var be = CpuBackend.Instance;
            var dst = Tensor.Zeros(shape);
            var m1 = Tensor.Zeros(shape, DType.Bool);
            var m2 = Tensor.Zeros(shape, DType.Bool);
            var zero = Tensor.Scalar(0f).Expand(shape);
            var six = Tensor.Scalar(6f).Expand(shape);
            var relu = QuickRunner.Time(() => be.Binary(BinaryOp.ReluBackward, g, y, dst), 9, 2);
            var select = QuickRunner.Time(() => { be.Binary(BinaryOp.Gt, y, zero, m1); be.Where(m1, g, zero, dst); }, 9, 2);
            var relu6 = QuickRunner.Time(() => be.Binary(BinaryOp.Relu6Backward, g, y, dst), 9, 2);
            var select6 = QuickRunner.Time(() =>
            {
                be.Binary(BinaryOp.Gt, y, zero, m1);
                be.Binary(BinaryOp.Lt, y, six, m2);
                be.Binary(BinaryOp.And, m1, m2, m1);
                be.Where(m1, g, zero, dst);
            }, 9, 2);
            string s = ShapeUtil.Format(shape).Replace(" ", "");
            Console.WriteLine($"activation-backward op=relu shape={s} median_ms={relu.MedianMs:F2} select_ms={select.MedianMs:F2} threads={IntraOpPool.NumThreads}");
            Console.WriteLine($"activation-backward op=relu6 shape={s} median_ms={relu6.MedianMs:F2} select_ms={select6.MedianMs:F2} threads={IntraOpPool.NumThreads}");
        }
    }
}
