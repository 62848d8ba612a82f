using System.Diagnostics;
using Sparkle.Gpu;
using Sparkle.Tensors;

// Runs CPU-vs-device agreement checks on a real device (default cuda:0) at sizes the CPU simulator cannot
// reach, and prints one line per check. Exit code 1 if any check fails. Usage: sparkle-gpucheck [cuda|opencl|ilgpucpu]
// `sparkle-gpucheck spark [r18|r50] [size] [batch] [reps]` times a SparK training step on cuda:0 instead (SparkStep.cs).
if (args.Length > 0 && args[0] == "spark") return Sparkle.GpuCheck.SparkStep.Run(args[1..]);
if (args.Length > 0 && args[0] == "spark-agree") return Sparkle.GpuCheck.SparkStep.Agree(args[1..]);
if (args.Length > 0 && args[0] is "tf32" or "tf32-sim") return Sparkle.GpuCheck.Tf32Check.Start(args);   // Tf32Check.cs
if (args.Length > 0 && args[0] == "conv") return Sparkle.GpuCheck.ConvCheck.Run(args[1..]);   // every SparK convolution, device vs CPU (ConvCheck.cs)
if (args.Length > 0 && args[0] == "depthwise") return Sparkle.GpuCheck.DepthwiseCheck.Run(args[1..]);   // ConvNeXt's 7x7 depthwise: tiled vs per-element (DepthwiseCheck.cs)
var kind = args.Length > 0 ? Enum.Parse<DeviceKind>(args[0], ignoreCase: true) : DeviceKind.Cuda;
var sw = Stopwatch.StartNew();
using var gpu = IlgpuBackend.Create(kind, 0);
var dev = gpu.Device;
Console.WriteLine($"device {dev}: {gpu.Accelerator.Name} (opened in {sw.ElapsedMilliseconds} ms)");
int failures = 0;

void Check(string name, Func<Tensor> cpu, Func<Tensor> gpuOp, double rtol, double atol = 0)
{
    try
    {
        var t0 = Stopwatch.GetTimestamp();
        var e = cpu().ToDoubleArray();
        var t1 = Stopwatch.GetTimestamp();
        var g = gpuOp();
        var a = g.To(Device.Cpu).ToDoubleArray();
        var t2 = Stopwatch.GetTimestamp();
        // |a - e| <= atol + rtol |e| per element; "worst" is that error in units of the allowance.
        double worst = 0;
        int bad = -1;
        for (int i = 0; i < e.Length; i++)
        {
            if (e[i].Equals(a[i])) continue;
            double err = Math.Abs(a[i] - e[i]) / Math.Max(atol + rtol * Math.Abs(e[i]), 1e-300);
            if (double.IsNaN(err)) err = double.PositiveInfinity;
            if (err > worst) { worst = err; bad = i; }
        }
        bool ok = e.Length == a.Length && g.Device == dev && worst <= 1;
        if (!ok) failures++;
        Console.WriteLine($"{(ok ? "PASS" : "FAIL")} {name,-34} n={e.Length,-8} error {worst:F3} of allowed (rtol {rtol:E0}, atol {atol:E0})" +
            $"{(bad >= 0 && !ok ? $" at {bad}: {a[bad]:R} vs {e[bad]:R}" : "")}  cpu {Ms(t0, t1)} ms, device+copy {Ms(t1, t2)} ms");
    }
    catch (Exception ex)
    {
        failures++;
        Console.WriteLine($"FAIL {name}: {ex.GetType().Name}: {ex.Message}");
    }
}

static string Ms(long a, long b) => ((b - a) * 1000.0 / Stopwatch.Frequency).ToString("F1");

Generator G() => new(42);
int[] big = [1024, 1024];
foreach (var dt in new[] { DType.Float32, DType.Float64 })
{
    string s = dt.Name();
    Check($"uniform {s}", () => Tensor.Uniform(big, -3, 5, G(), dt), () => Tensor.Uniform(big, -3, 5, G(), dt, dev), 0);
    // mean + std * z cancels near 0, so a few ulp of |mean| + std is the honest allowance there (atol).
    Check($"normal {s}", () => Tensor.Normal(big, 1, 2, G(), dt), () => Tensor.Normal(big, 1, 2, G(), dt, dev),
        dt == DType.Float32 ? 1e-6 : 1e-12, dt == DType.Float32 ? 3e-6 : 1e-14);
    var x = Tensor.Normal(big, 0, 2, G(), dt);
    var y = Tensor.Uniform([1024], 0.5, 2, G(), dt);
    var xd = x.To(dev);
    var yd = y.To(dev);
    double tr = dt == DType.Float32 ? 1e-4 : 1e-10;
    Check($"exp {s}", () => x.Exp(), () => xd.Exp(), tr);
    Check($"log {s}", () => y.Log(), () => yd.Log(), tr);
    Check($"sqrt {s}", () => y.Sqrt(), () => yd.Sqrt(), tr);
    Check($"tanh {s}", () => x.Tanh(), () => xd.Tanh(), tr);
    Check($"sigmoid {s}", () => x.Sigmoid(), () => xd.Sigmoid(), tr);
    Check($"erf {s}", () => x.Erf(), () => xd.Erf(), tr);
    Check($"gelu {s}", () => x.Gelu(), () => xd.Gelu(), tr);
    Check($"pow {s}", () => y.Pow(1.7), () => yd.Pow(1.7), tr);
    Check($"add/mul broadcast {s}", () => x * y + y, () => xd * yd + yd, 0);
    Check($"div {s}", () => x / y, () => xd / yd, 0);
    Check($"max/relu {s}", () => x.Maximum(y).Relu6(), () => xd.Maximum(yd).Relu6(), 0);
    Check($"permuted copy {s}", () => x.T.Contiguous(), () => xd.T.Contiguous(), 0);
    Check($"cast to int32 {s}", () => x.To(DType.Int32), () => xd.To(DType.Int32), 0);
    Check($"compare/where {s}", () => Tensor.Where(x.Gt(y), x, y), () => Tensor.Where(xd.Gt(yd), xd, yd), 0);
    Check($"sum rows {s}", () => x.Sum(1), () => xd.Sum(1), tr, dt == DType.Float32 ? 1e-3 : 1e-10);
    Check($"var cols {s}", () => x.Var([0]), () => xd.Var([0]), dt == DType.Float32 ? 1e-4 : 1e-10);
    Check($"argmax {s}", () => x.ArgMax(1), () => xd.ArgMax(1), 0);
    var a = Tensor.Normal([4, 128, 256], 0, 1, G(), dt);
    var b = Tensor.Normal([256, 192], 0, 1, G(), dt);
    var (ad, bd) = (a.To(dev), b.To(dev));
    Check($"matmul {s}", () => a.MatMul(b), () => ad.MatMul(bd), tr, dt == DType.Float32 ? 1e-3 : 1e-10);
}
var idx = Tensor.Randint(0, 1024, [4096], G());
var src = Tensor.Normal([4096, 64], 0, 1, G());
var idx2 = idx.Unsqueeze(1).Expand([4096, 64]).Contiguous();
Check("bernoulli bool", () => Tensor.Bernoulli(big, 0.3, G(), DType.Bool), () => Tensor.Bernoulli(big, 0.3, G(), DType.Bool, dev), 0);
Check("randint int64", () => Tensor.Randint(-5, 1L << 40, big, G()), () => Tensor.Randint(-5, 1L << 40, big, G(), device: dev), 0);
Check("index_select", () => src.IndexSelect(0, idx), () => src.To(dev).IndexSelect(0, idx.To(dev)), 0);
Check("scatter_add (deterministic)", () => Tensor.Zeros([1024, 64]).ScatterAdd(0, idx2, src),
    () => Tensor.Zeros([1024, 64], device: dev).ScatterAdd(0, idx2.To(dev), src.To(dev)), 1e-5);
// The SparK loss path at the size that gave loss 0 on an H100 (R18, 96 px, batch 32, patch 32): bool logic and casts,
// patchify (a rank-6 permuted copy), per-patch mean/var, and the loss itself from random reconstructions and masks.
{
    var mask = Tensor.Bernoulli([32, 1, 3, 3], 0.4, G(), DType.Bool);
    var maskD = mask.To(dev);
    Check("bool not/and/or -> float", () => mask.LogicalNot().LogicalOr(mask.LogicalAnd(mask)).To(DType.Float32),
        () => maskD.LogicalNot().LogicalOr(maskD.LogicalAnd(maskD)).To(DType.Float32), 0);
    Check("bool repeat_interleave", () => mask.RepeatInterleave(32, 2).RepeatInterleave(32, 3).To(DType.Float32),
        () => maskD.RepeatInterleave(32, 2).RepeatInterleave(32, 3).To(DType.Float32), 0);
    var img = Tensor.Normal([32, 3, 96, 96], 0, 1, G());
    var rec = Tensor.Normal([32, 3, 96, 96], 0, 1, G());
    var (imgD, recD) = (img.To(dev), rec.To(dev));
    Check("patchify (rank-6 permuted copy)", () => Sparkle.Models.Spark.Patches.Patchify(img, 32).Contiguous(),
        () => Sparkle.Models.Spark.Patches.Patchify(imgD, 32).Contiguous(), 0);
    Check("spark target (patch mean/var)", () => Sparkle.Models.Spark.SparkLoss.Target(img, 32), () => Sparkle.Models.Spark.SparkLoss.Target(imgD, 32), 1e-4, 1e-4);
    Check("spark loss", () => Sparkle.Models.Spark.SparkLoss.Loss(rec, img, mask, 32), () => Sparkle.Models.Spark.SparkLoss.Loss(recD, imgD, maskD, 32), 1e-4);
}
// Convolution through the seam (SeamConv) on the device vs the CPU kernels: forward and both gradients, 3x3 and a
// strided depthwise case, at ResNet-like sizes.
foreach (var (name, n, c, hw, o, k, stride, groups) in new[] { ("conv3x3 64->64 @28", 4, 64, 28, 64, 3, 1, 1), ("dw7x7 s2 96 @28", 2, 96, 28, 96, 7, 2, 96) })
{
    var p = new Sparkle.Tensors.Backend.Conv2dParams(stride, stride, k / 2, k / 2, 1, 1, groups);
    int oh = Sparkle.Tensors.Backend.Conv2dParams.OutputSize(hw, k, stride, k / 2, 1);
    var x = Tensor.Normal([n, c, hw, hw], 0, 1, G());
    var w = Tensor.Normal([o, c / groups, k, k], 0, 0.1, G());
    var gy = Tensor.Normal([n, o, oh, oh], 0, 1, G());
    var (xd, wd, gyd) = (x.To(dev), w.To(dev), gy.To(dev));
    Tensor Run(Action<Tensor> op, int[] shape, Device d) { var t = Tensor.Zeros(shape, device: d); op(t); return t; }
    Check($"{name} forward", () => Run(t => x.Backend.Conv2dForward(x, w, null, t, p), [n, o, oh, oh], Device.Cpu),
        () => Run(t => gpu.Conv2dForward(xd, wd, null, t, p), [n, o, oh, oh], dev), 1e-4, 1e-4);
    Check($"{name} grad input", () => Run(t => x.Backend.Conv2dBackwardInput(gy, w, t, p), x.ShapeArray(), Device.Cpu),
        () => Run(t => gpu.Conv2dBackwardInput(gyd, wd, t, p), x.ShapeArray(), dev), 1e-4, 1e-4);
    Check($"{name} grad weight", () => Run(t => x.Backend.Conv2dBackwardWeight(gy, x, t, p), w.ShapeArray(), Device.Cpu),
        () => Run(t => gpu.Conv2dBackwardWeight(gyd, xd, t, p), w.ShapeArray(), dev), 1e-4, 1e-3);
}
Console.WriteLine($"{gpu.CompiledKernels} kernels compiled; {failures} failure(s); total {sw.ElapsedMilliseconds} ms");
Console.WriteLine($"memory: {gpu.MemoryStats}; {gpu.HostReads} host reads");
return failures == 0 ? 0 : 1;
