using Sparkle.Benchmarks.Quick;
using Sparkle.Models;
using Sparkle.Nn;
using Sparkle.Nn.Optim;
using Sparkle.Tensors;
using Sparkle.Tensors.Backend;
using Sparkle.Tensors.Cpu;

namespace Sparkle.Benchmarks.Models;

/// <summary>`quick nets [size=224] [batch=8] [threads=2] [reps=5] [pool=1] [pointwise=0|1]`: a dense ResNet training step (forward, cross-entropy,
/// backward, SGD momentum 0.9) and the forward alone (no grad, train-mode BN), as refbench's nets224/nets96 lines
/// (`../shared/refbench/run nets224 2`), with a TensorPool as the training loops use (pool=0: without).
/// Prints `nets r50 224 b8 step median_ms=...`.</summary>
public sealed class NetsQuickSuite : IQuickSuite
{
    public string Name => "nets";

    public void Run(string[] args)
    {
        var opts = QuickArgs.Parse(args);
        int size = opts.Int("size", 224), batch = opts.Int("batch", 8), reps = opts.Int("reps", 5);
        IntraOpPool.NumThreads = opts.Int("threads", 2);
        // pointwise=0: 1x1 convs on their pre-PointwiseConv path (slab / batched), for same-binary comparisons.
        // The choice is a CpuKernelOptions value, registered as the CPU backend for this suite (restored below).
        if (opts.Int("pointwise", -1) is int pw and >= 0)
            Backends.Register(CpuBackend.WithOptions(new CpuKernelOptions { ConvPointwise = pw == 1 }));
        foreach (var arch in opts.Words.Count > 0 ? opts.Words : ["r50"])
        {
            var model = (Module)(arch == "r18" ? ResNet.ResNet18(new ModelOptions { NumClasses = 1000, Generator = new Generator(0) })
                : ResNet.ResNet50(new ModelOptions { NumClasses = 1000, Generator = new Generator(0) }));
            var net = (IHierarchicalEncoder)model;
            var x = Tensor.Randn([batch, 3, size, size], new Generator(1));
            var labels = Tensor.Randint(0, 1000, [batch], new Generator(2));
            var sgd = new Sgd(model.NamedParameters(), lr: 0.01, momentum: 0.9);
            var pool = opts.Int("pool", 1) == 1 ? new TensorPool() : null;
            var fwd = QuickRunner.Time(() =>
            {
                using (Sparkle.Autograd.GradMode.NoGrad())
                using (pool?.Use())
                    net.Forward(x);
                pool?.Reclaim();
            }, reps, 1);
            // cpu_ms: process CPU time per step (both threads), steadier than wall time on a shared VM.
            var proc = System.Diagnostics.Process.GetCurrentProcess();
            var cpu = new List<double>();
            var step = QuickRunner.Time(() =>
            {
                proc.Refresh();
                var c0 = proc.TotalProcessorTime;
                using (pool?.Use())
                {
                    Functional.CrossEntropy(net.Forward(x), labels).Backward();
                    sgd.Step();
                    sgd.ZeroGrad();
                }
                proc.Refresh();
                cpu.Add((proc.TotalProcessorTime - c0).TotalMilliseconds);
            }, reps, 2);
            cpu.RemoveRange(0, 2); // the warm-up calls
            cpu.Sort();
            Console.WriteLine($"nets {arch} {size} b{batch} fwd  median_ms={fwd.MedianMs:F1} min_ms={fwd.MinMs:F1} threads={IntraOpPool.NumThreads}");
            Console.WriteLine($"nets {arch} {size} b{batch} step median_ms={step.MedianMs:F1} min_ms={step.MinMs:F1} threads={IntraOpPool.NumThreads} cpu_ms={cpu[cpu.Count / 2]:F0}");
        }
        Backends.Register(CpuBackend.Instance);
    }
}

/// <summary>Words and key=value pairs of a quick-suite command line.</summary>
internal sealed class QuickArgs
{
    public List<string> Words { get; } = [];
    private readonly Dictionary<string, string> _values = [];

    public static QuickArgs Parse(string[] args)
    {
        var r = new QuickArgs();
        foreach (var a in args)
        {
            int eq = a.IndexOf('=');
            if (eq > 0) r._values[a[..eq]] = a[(eq + 1)..];
            else r.Words.Add(a);
        }
        return r;
    }

    public int Int(string key, int fallback) => _values.TryGetValue(key, out var v) ? int.Parse(v, System.Globalization.CultureInfo.InvariantCulture) : fallback;
    public double Double(string key, double fallback) => _values.TryGetValue(key, out var v) ? double.Parse(v, System.Globalization.CultureInfo.InvariantCulture) : fallback;
}
