using Sparkle.Benchmarks.Quick;
using Sparkle.Models;
using Sparkle.Models.Spark;
using Sparkle.Nn.Optim;
using Sparkle.Tensors;
using Sparkle.Tensors.Cpu;

namespace Sparkle.Benchmarks.Models;

/// <summary>`quick spark [r18|r50] [size=96] [batch=32] [mask=0.6] [width=768] [threads=2] [reps=5]`: one SparK pre-training
/// step (sparse forward, loss, backward, LAMB with clipping) and the forward alone, as refbench's spark lines
/// (`../shared/refbench/run spark 2`). Prints `spark r18 96 b32 step median_ms=... loss=...`.</summary>
public sealed class SparkQuickSuite : IQuickSuite
{
    public string Name => "spark";

    public void Run(string[] args)
    {
        var opts = QuickArgs.Parse(args);
        int size = opts.Int("size", 96), batch = opts.Int("batch", 32), reps = opts.Int("reps", 5), width = opts.Int("width", 768);
        double mask = opts.Double("mask", 0.6);
        IntraOpPool.NumThreads = opts.Int("threads", 2);
        foreach (var arch in opts.Words.Count > 0 ? opts.Words : ["r18"])
        {
            var encoder = arch == "r50" ? ResNet.ResNet50(new ModelOptions { Generator = new Generator(0) }) : ResNet.ResNet18(new ModelOptions { Generator = new Generator(0) });
            var spark = new SparkModel(encoder, size, mask, width, generator: new Generator(1));
            var lamb = new Lamb(ParamGroups.Split(spark), lr: 2e-4 * batch / 256, beta2: 0.95, weightDecay: 0.04);
            var images = Tensor.Randn([batch, 3, size, size], new Generator(2));
            var g = new Generator(3);
            double loss = 0;
            var fwd = QuickRunner.Time(() => { using var _ = Sparkle.Autograd.GradMode.NoGrad(); spark.Loss(images, spark.SampleMask(batch, g)); }, reps, 1);
            var step = QuickRunner.Time(() =>
            {
                var l = spark.Loss(images, spark.SampleMask(batch, g));
                l.Backward();
                lamb.Step();
                lamb.ZeroGrad();
                loss = l.Item();
            }, reps, 1);
            if (opts.Int("profile", 0) == 1)
            {
                Sparkle.Autograd.BackwardProfile.Enabled = true;
                Sparkle.Autograd.BackwardProfile.Reset();
                spark.Loss(images, spark.SampleMask(batch, g)).Backward();
                lamb.ZeroGrad();
                Sparkle.Autograd.BackwardProfile.Enabled = false;
                Console.WriteLine("# backward time by node:" + Environment.NewLine + Sparkle.Autograd.BackwardProfile.Report());
            }
            Console.WriteLine($"spark {arch} {size} b{batch} fwd  median_ms={fwd.MedianMs:F1} min_ms={fwd.MinMs:F1} width={width} mask={mask} threads={IntraOpPool.NumThreads}");
            Console.WriteLine($"spark {arch} {size} b{batch} step median_ms={step.MedianMs:F1} min_ms={step.MinMs:F1} width={width} mask={mask} threads={IntraOpPool.NumThreads} loss={loss:F4}");
        }
    }
}
