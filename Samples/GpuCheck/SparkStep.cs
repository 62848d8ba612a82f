using System.Diagnostics;
using Sparkle.Gpu;
using Sparkle.Models;
using Sparkle.Models.Spark;
using Sparkle.Nn.Optim;
using Sparkle.Tensors;

namespace Sparkle.GpuCheck;

/// <summary>Times one SparK pre-training step (forward, loss, backward, LAMB) of a ResNet on cuda:0, the same
/// configuration as torch/spark_step.py (the official masked-dense algorithm in PyTorch) for the ratio.</summary>
internal static class SparkStep
{
    public static int Run(string[] args)
    {
        string arch = args.Length > 0 ? args[0] : "r18";
        int size = args.Length > 1 ? int.Parse(args[1]) : 96, batch = args.Length > 2 ? int.Parse(args[2]) : 32, reps = args.Length > 3 ? int.Parse(args[3]) : 3;
        using var gpu = IlgpuBackend.Create(DeviceKind.Cuda, 0);
        var dev = gpu.Device;
        var o = new ModelOptions { Generator = new Generator(0), DropPath = arch == "r50" ? 0.05 : 0 };
        IHierarchicalEncoder enc = arch == "r50" ? ResNet.ResNet50(o) : ResNet.ResNet18(o);
        var spark = new SparkModel(enc, size, generator: new Generator(1));
        spark.To(dev);
        var lamb = new Lamb(ParamGroups.Split(spark), 2e-4 * batch / 256, beta2: 0.95, weightDecay: 0.04);
        var x = Tensor.Randn([batch, 3, size, size], new Generator(2)).To(dev);
        var g = new Generator(3);
        double Step()
        {
            var loss = spark.Loss(x, spark.SampleMask(batch, g));
            lamb.ZeroGrad();
            loss.Backward();
            lamb.Step();
            return loss.Item();                       // syncs the device
        }
        var sw = Stopwatch.StartNew();
        double first = Step();
        Console.WriteLine($"first step (compiles kernels): {sw.ElapsedMilliseconds} ms, loss {first:F4}");
        var times = new List<double>();
        double last = 0;
        for (int i = 0; i < reps; i++)
        {
            sw.Restart();
            last = Step();
            times.Add(sw.Elapsed.TotalMilliseconds);
        }
        times.Sort();
        Console.WriteLine($"sparkle spark {arch} {size} b{batch} step median_ms={times[times.Count / 2]:F1} min_ms={times[0]:F1} loss={last:F4} device={gpu.Accelerator.Name} kernels={gpu.CompiledKernels}");
        return 0;
    }
}
