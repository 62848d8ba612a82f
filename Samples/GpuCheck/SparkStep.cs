using System.Diagnostics;
using Sparkle.Gpu;
using Sparkle.Models;
using Sparkle.Models.Spark;
using Sparkle.Models.Training;
using Sparkle.Sparse;
using Sparkle.Tensors;

namespace Sparkle.GpuCheck;

/// <summary>SparK pre-training steps of a ResNet — <see cref="Pretrainer.Step"/>, the step `sparkle pretrain` runs — in the
/// configuration of torch/spark_step.py (the official masked-dense algorithm in PyTorch) for the ratio. Usage:
/// <c>spark [r18|r50] [size] [batch] [reps] [cuda|ilgpucpu|cpu|cpu-oracle] [profile]</c> times steps (<see cref="StepTimer"/>)
/// and prints the per-step device counters and the pool's numbers (with <c>profile</c>, then one step with every kernel timed alone: <see cref="KernelProfile"/>);
/// <c>spark-agree [r18|r50] [size] [batch] [cuda|ilgpucpu]</c> runs one step on the device and on the CPU (masked-dense
/// oracle and sparse kernels) from the same weights, images and mask and compares the loss and every gradient.</summary>
internal static class SparkStep
{
    private static (SparkModel Model, IHierarchicalEncoder Encoder, Tensor Images, Tensor Mask) Build(string arch, int size, int batch)
    {
        var o = new ModelOptions { Generator = new Generator(0), DropPath = 0 };
        IHierarchicalEncoder enc = arch == "r50" ? ResNet.ResNet50(o) : ResNet.ResNet18(o);
        var spark = new SparkModel(enc, size, generator: new Generator(1));
        return (spark, enc, Tensor.Randn([batch, 3, size, size], new Generator(2)), spark.SampleMask(batch, new Generator(3)));
    }

    /// <summary>Max |a - e| relative to max |e|, printed with a PASS/FAIL verdict (1e-3); NaN fails.</summary>
    private static bool Compare(string what, Tensor expected, Tensor actual)
    {
        var e = expected.ToDoubleArray();
        var a = actual.To(Device.Cpu).ToDoubleArray();
        double diff = 0, scale = 1e-6, sumA = 0;
        for (int i = 0; i < e.Length; i++) { diff = Math.Max(diff, Math.Abs(e[i] - a[i])); scale = Math.Max(scale, Math.Abs(e[i])); sumA += Math.Abs(a[i]); }
        bool ok = !double.IsNaN(diff) && diff <= 1e-3 * scale;
        Console.WriteLine($"{(ok ? "PASS" : "FAIL")} {what,-28} {ShapeUtil.Format(expected.Shape),-18} max diff {diff:E2} (largest {scale:E2}; device mean |x| {sumA / Math.Max(1, a.Length):E2})");
        return ok;
    }

    public static int Run(string[] args)
    {
        string arch = args.Length > 0 ? args[0] : "r18";
        int size = args.Length > 1 ? int.Parse(args[1]) : 96, batch = args.Length > 2 ? int.Parse(args[2]) : 32, reps = args.Length > 3 ? int.Parse(args[3]) : 3;
        string where = args.Length > 4 ? args[4] : "cuda";
        IlgpuBackend? gpu = where.StartsWith("cpu", StringComparison.Ordinal) ? null : IlgpuBackend.Create(Enum.Parse<DeviceKind>(where, ignoreCase: true), 0);
        try
        {
            var dev = gpu?.Device ?? Device.Cpu;
            var o = new ModelOptions { Generator = new Generator(0), DropPath = arch == "r50" ? 0.05 : 0 };
            IHierarchicalEncoder enc = arch == "r50" ? ResNet.ResNet50(o) : ResNet.ResNet18(o);
            var spark = new SparkModel(enc, size, generator: new Generator(1));
            spark.To(dev);
            // The step `sparkle pretrain` runs (Pretrainer: schedule, LAMB with clipping, NaN stop, memory scopes), with
            // SparK's defaults for one epoch as long as this run.
            var trainer = new Pretrainer(spark, new PretrainOptions { Epochs = 1, WarmupEpochs = 0, BatchSize = batch, Seed = 3 }, itersPerEpoch: reps + 2);
            var x = Tensor.Randn([batch, 3, size, size], new Generator(2)).To(dev);
            using var oracle = where == "cpu-oracle" ? SparseMode.Oracle() : default;
            var t = StepTimer.Run(trainer, x, warmup: 2, reps, (i, ms, loss) =>
            {
                Console.WriteLine(i == 0 ? $"first step (compiles kernels): {ms:F0} ms, loss {loss:F4}" : $"  step {i + 1}: {ms:F1} ms, loss {loss:F4}");
                if (i == 0 && gpu is not null) Console.WriteLine($"  memory after step 1: {gpu.MemoryStats}");
            });
            Console.WriteLine($"sparkle spark {arch} {size} b{batch} {where} step median_ms={t.MedianMs:F1} min_ms={t.MinMs:F1} loss={t.LastLoss:F4}" +
                (gpu is null ? "" : $" device={gpu.Accelerator.Name} kernels={gpu.CompiledKernels}"));
            Console.WriteLine($"  {t.Counters}");
            if (gpu is not null)
            {
                Console.WriteLine($"  memory (steady state): {gpu.MemoryStats}, of {gpu.Accelerator.MemorySize / 1048576.0:F0} MiB");
                if (args.Contains("profile"))
                {
                    gpu.Profile = new KernelProfile();                // one more step, every launch alone and timed
                    var sw = Stopwatch.StartNew();
                    trainer.Step(x);
                    Console.WriteLine($"profiled step: {sw.ElapsedMilliseconds} ms wall; {gpu.Profile}");
                    gpu.Profile = null;
                }
            }
            return 0;
        }
        finally { gpu?.Dispose(); }
    }

    /// <summary>One step on the device and on the CPU from identical weights, images and mask: the bisecting tool for a wrong
    /// device loss at full size. Tests/Gpu/GpuSparkStepTests does the same for a 1/8-width ResNet-18 and ConvNeXt-atto at 64 px
    /// on ILGPU's CPU accelerator; it has no "Slow" trait, so CI's test command (.ci/run, --filter "Category!=Slow") runs
    /// it (about 90 s on 2 cores). Nothing in CI runs this tool or a real GPU.</summary>
    public static int Agree(string[] args)
    {
        string arch = args.Length > 0 ? args[0] : "r18";
        int size = args.Length > 1 ? int.Parse(args[1]) : 96, batch = args.Length > 2 ? int.Parse(args[2]) : 2;
        var kind = Enum.Parse<DeviceKind>(args.Length > 3 ? args[3] : "cuda", ignoreCase: true);
        using var gpu = IlgpuBackend.Create(kind, 0);
        gpu.PoisonUninitialized = Environment.GetEnvironmentVariable("SPARKLE_GPU_POISON") == "1";
        var (cpu, cpuEnc, images, mask) = Build(arch, size, batch);
        var (dev, devEnc, _, _) = Build(arch, size, batch);
        dev.To(gpu.Device);
        var imagesDev = images.To(gpu.Device);
        int bad = 0;
        // Stage by stage without gradients, so a wrong value is localised: masked input, each encoder map, reconstruction.
        using (Sparkle.Autograd.GradMode.NoGrad())
        using (var ctx = SparseContext.Begin(mask))
        {
            var mc = images * ctx.DenseMask(size, size, images.DType, Device.Cpu);
            var md = imagesDev * ctx.DenseMask(size, size, images.DType, gpu.Device);
            if (!Compare("masked input", mc, md)) bad++;
            Tensor[] fc;
            using (SparseMode.Oracle()) fc = cpuEnc.ForwardFeatures(mc);
            var fd = devEnc.ForwardFeatures(md);
            for (int i = 0; i < fc.Length; i++) if (!Compare($"encoder map {i}", fc[i], fd[i])) bad++;
        }
        using (Sparkle.Autograd.GradMode.NoGrad())
        {
            Tensor rc;
            using (SparseMode.Oracle()) rc = cpu.Reconstruct(images, mask);
            if (!Compare("reconstruction", rc, dev.Reconstruct(imagesDev, mask))) bad++;
        }
        var sw = Stopwatch.StartNew();
        double lossSparse;
        using (Sparkle.Autograd.GradMode.NoGrad()) lossSparse = cpu.Loss(images, mask).Item();
        var lossCpu = SparseModeLoss(cpu, images, mask);
        Console.WriteLine($"cpu: loss sparse {lossSparse:F6}, masked-dense oracle {lossCpu.Item():F6} ({sw.ElapsedMilliseconds} ms)");
        sw.Restart();
        var lossDev = dev.Loss(imagesDev, mask);
        lossDev.Backward();
        double ld = lossDev.Item();
        Console.WriteLine($"device: loss {ld:F6} ({sw.ElapsedMilliseconds} ms); {gpu.MemoryStats}");
        bool lossOk = Math.Abs(ld - lossCpu.Item()) <= 1e-4 * Math.Max(1, Math.Abs(lossCpu.Item()));
        if (!lossOk) bad++;
        Console.WriteLine($"{(lossOk ? "PASS" : "FAIL")} loss");
        var devParams = dev.NamedParameters().ToDictionary(p => p.Name, p => p.Parameter);
        foreach (var (name, p) in cpu.NamedParameters())
        {
            if (p.Grad is null) continue;
            var e = p.Grad.ToDoubleArray();
            var a = devParams[name].Grad?.To(Device.Cpu).ToDoubleArray() ?? new double[e.Length];
            double diff = 0, scale = 1e-6;
            for (int i = 0; i < e.Length; i++) { diff = Math.Max(diff, Math.Abs(e[i] - a[i])); scale = Math.Max(scale, Math.Abs(e[i])); }
            if (double.IsNaN(diff) || diff > 1e-3 * scale) { bad++; Console.WriteLine($"FAIL grad {name}: max diff {diff:E2} (largest {scale:E2})"); }
        }
        Console.WriteLine($"{bad} failure(s)");
        return bad == 0 ? 0 : 1;
    }

    private static Tensor SparseModeLoss(SparkModel m, Tensor images, Tensor mask)
    {
        using var _ = SparseMode.Oracle();
        var loss = m.Loss(images, mask);
        loss.Backward();
        return loss;
    }
}
