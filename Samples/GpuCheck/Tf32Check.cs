using System.Diagnostics;
using Sparkle.Gpu;
using Sparkle.Nn;
using Sparkle.Tensors;
using Sparkle.Tensors.Backend;

namespace Sparkle.GpuCheck;

/// <summary>
/// `sparkle-gpucheck tf32` (cuda:0, real sizes) / `tf32-sim` (the warp-32 CPU simulator, tiny sizes, emulated mma):
/// the TF32 tensor-core path against the FP32 kernels on the same device — GEMMs (square, tall-skinny, long K, odd edges)
/// and ResNet convolutions (forward, input gradient, weight gradient; a pass the plan does not give the TF32 kernel, such as
/// the stem's 3-channel input gradient, is skipped) — with the normwise error ‖tf32 − fp32‖/‖fp32‖ (PASS at most
/// <see cref="IlgpuBackend.Tf32SelfCheckBound"/>) and the median time and GFLOP/s of each path (5 synchronised launches
/// after a warm-up). Exit code 1 on any failure.
/// </summary>
public static class Tf32Check
{
    public static int Start(string[] args)
    {
        bool sim = args[0] == "tf32-sim";
        using var backend = sim ? IlgpuBackend.CreateWarp32Simulator() : IlgpuBackend.Create(DeviceKind.Cuda, 0);
        return Run(backend, small: sim);
    }

    public static int Run(IlgpuBackend backend, bool small)
    {
        Console.WriteLine($"tf32 check on {backend.Device}: {backend.Accelerator.Name}, capable {backend.Tf32Capable}, AllowTf32 default {backend.AllowTf32}" +
            $" (SPARKLE_TF32={Environment.GetEnvironmentVariable("SPARKLE_TF32") ?? "unset"})");
        int failures = 0;
        if (!backend.Tf32Capable) { Console.WriteLine("FAIL device cannot run the TF32 kernel"); return 1; }
        try
        {
            double err = backend.RunTf32SelfCheck();
            bool ok = err <= IlgpuBackend.Tf32SelfCheckBound;
            if (!ok) failures++;
            Console.WriteLine($"{(ok ? "PASS" : "FAIL")} self-check 130x70x200 vs float64 host: {err:E2} (bound {IlgpuBackend.Tf32SelfCheckBound:E2})");
        }
        catch (Exception ex) { failures++; Console.WriteLine($"FAIL self-check: {ex.GetType().Name}: {ex.Message}"); }

        (int M, int K, int N)[] gemms = small
            ? [(130, 200, 70), (300, 17, 20), (64, 520, 64), (100, 37, 99)]
            : [(1024, 1024, 1024), (65536, 256, 64), (256, 12288, 256), (1000, 37, 999), (4096, 4096, 4096)];
        foreach (var (m, k, n) in gemms)
        {
            var a = Tensor.Randn([1, m, k], new Generator(1), DType.Float32, backend.Device);
            var b = Tensor.Randn([1, k, n], new Generator(2), DType.Float32, backend.Device);
            failures += Compare(backend, $"gemm {m}x{k}x{n}", 2.0 * m * n * k, () => a.MatMul(b), small);
        }

        // (name, N, C, H, O, kernel, stride, pad)
        (string Name, int N, int C, int H, int O, int Kk, int S, int P)[] convs = small
            ? [("3x3 8->32 @10 b2", 2, 8, 10, 32, 3, 1, 1), ("3x3 16->32 @6 b2", 2, 16, 6, 32, 3, 1, 1),
               ("1x1 64->32 @5 b2", 2, 64, 5, 32, 1, 1, 0), ("stem 7x7/2 @32 b1", 1, 3, 32, 16, 7, 2, 3)]
            : [("3x3 64 @56 b32", 32, 64, 56, 64, 3, 1, 1), ("3x3 256 @14 b64", 64, 256, 14, 256, 3, 1, 1),
               ("1x1 1024->256 @14 b64", 64, 1024, 14, 256, 1, 1, 0), ("stem 7x7/2 @224 b64", 64, 3, 224, 64, 7, 2, 3)];
        foreach (var c in convs)
        {
            var x = Tensor.Randn([c.N, c.C, c.H, c.H], new Generator(3), DType.Float32, backend.Device);
            var w = Tensor.Randn([c.O, c.C, c.Kk, c.Kk], new Generator(4), DType.Float32, backend.Device);
            var bias = Tensor.Randn([c.O], new Generator(5), DType.Float32, backend.Device);
            int oh = (c.H + 2 * c.P - c.Kk) / c.S + 1;
            double flops = 2.0 * c.N * c.O * oh * oh * c.C * c.Kk * c.Kk;
            failures += Compare(backend, $"conv {c.Name}", flops, () => Functional.Conv2d(x, w, bias, c.S, c.P), small);
            var p = new Conv2dParams(c.S, c.S, c.P, c.P, 1, 1, 1);
            int[] xs = [c.N, c.C, c.H, c.H], ws = [c.O, c.C, c.Kk, c.Kk], ys = [c.N, c.O, oh, oh];
            var gy = Tensor.Randn(ys, new Generator(6), DType.Float32, backend.Device);
            if (Tf32Planned(backend, c.Name, GpuConvPass.BackwardInput, xs, ws, ys, p))
                failures += Compare(backend, $"conv {c.Name} dx", flops, () =>
                {
                    var gx = Tensor.Empty(xs, DType.Float32, backend.Device);
                    backend.Conv2dBackwardInput(gy, w, gx, p);
                    return gx;
                }, small);
            if (Tf32Planned(backend, c.Name, GpuConvPass.BackwardWeight, xs, ws, ys, p))
                failures += Compare(backend, $"conv {c.Name} dw", flops, () =>
                {
                    var gw = Tensor.Empty(ws, DType.Float32, backend.Device);
                    backend.Conv2dBackwardWeight(gy, x, gw, p);
                    return gw;
                }, small);
        }
        Console.WriteLine(failures == 0 ? "tf32: all checks passed" : $"tf32: {failures} check(s) FAILED");
        return failures == 0 ? 0 : 1;
    }

    /// <summary>Whether the float32 plan of the pass is TF32 with TF32 allowed; prints SKIP with the plan if not.</summary>
    private static bool Tf32Planned(IlgpuBackend backend, string name, GpuConvPass pass, int[] x, int[] w, int[] y, in Conv2dParams p)
    {
        bool saved = backend.AllowTf32;
        backend.AllowTf32 = true;
        var plan = backend.PlanConv(pass, DType.Float32, x, w, y, p);
        backend.AllowTf32 = saved;
        if (plan.Kernel != GpuConvKernel.Tf32) Console.WriteLine($"SKIP conv {name} {pass} (plan: {plan})");
        return plan.Kernel == GpuConvKernel.Tf32;
    }

    /// <summary>Runs <paramref name="op"/> with TF32 off and on, compares, times both; 1 on failure.</summary>
    private static int Compare(IlgpuBackend backend, string name, double flops, Func<Tensor> op, bool small)
    {
        bool saved = backend.AllowTf32;
        try
        {
            backend.AllowTf32 = false;
            var (fp32, tFp32) = Time(backend, op, small);
            backend.AllowTf32 = true;
            long before = backend.Tf32Launches;
            var (tf32, tTf32) = Time(backend, op, small);
            bool ran = backend.Tf32Launches > before;
            var e = fp32.ToDoubleArray();
            var g = tf32.ToDoubleArray();
            double num = 0, den = 0;
            for (int i = 0; i < e.Length; i++) { num += (g[i] - e[i]) * (g[i] - e[i]); den += e[i] * e[i]; }
            double err = Math.Sqrt(num / den);
            bool ok = ran && err <= IlgpuBackend.Tf32SelfCheckBound;
            Console.WriteLine($"{(ok ? "PASS" : "FAIL")} {name,-26} error {err:E2}{(ran ? "" : " (TF32 kernel not used)")}  " +
                $"fp32 {tFp32:F3} ms {flops / tFp32 / 1e6:F0} GFLOP/s, tf32 {tTf32:F3} ms {flops / tTf32 / 1e6:F0} GFLOP/s, speed-up {tFp32 / tTf32:F2}x");
            return ok ? 0 : 1;
        }
        catch (Exception ex)
        {
            Console.WriteLine($"FAIL {name}: {ex.GetType().Name}: {ex.Message}");
            return 1;
        }
        finally { backend.AllowTf32 = saved; }
    }

    /// <summary>One warm-up launch (compiles), then the median of 5 (1 on the simulator) synchronised launches in ms.</summary>
    private static (Tensor Result, double Ms) Time(IlgpuBackend backend, Func<Tensor> op, bool small)
    {
        var result = op();
        backend.Accelerator.Synchronize();
        var times = new List<double>();
        for (int i = 0; i < (small ? 1 : 5); i++)
        {
            var sw = Stopwatch.StartNew();
            op();
            backend.Accelerator.Synchronize();
            times.Add(sw.Elapsed.TotalMilliseconds);
        }
        times.Sort();
        return (result, times[times.Count / 2]);
    }
}
