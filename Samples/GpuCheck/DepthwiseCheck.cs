using System.Diagnostics;
using System.Globalization;
using Sparkle.Gpu;
using Sparkle.Gpu.Memory;
using Sparkle.Tensors;
using Sparkle.Tensors.Backend;

namespace Sparkle.GpuCheck;

/// <summary>
/// <c>depthwise [cuda|ilgpucpu] [full|small]</c>: the microbenchmark of issue 16's depthwise kernels. ConvNeXt-T's 7x7 p3
/// depthwise convs at 224 px, batch 64, channels-last as the block produces them (96@56, 192@28, 384@14, 768@7; float32),
/// and 96@56 in NCHW: forward, input gradient and weight gradient with the shared-memory kernels
/// (<see cref="GpuConvKernel.DepthwiseTiled"/>) and with the per-element kernels (<see cref="IlgpuBackend.TiledDepthwise"/>
/// off), side by side on the same device and inputs: median device ms of 5 synchronised runs after a warm-up, the
/// effective bandwidth (the pass's compulsory bytes: read the input(s) once, write the output once) and the agreement of
/// the two kernels (max |tiled − per-element| / max |per-element|, bound 1e-5: both are exact FP32 sums, in other orders
/// for the gradients). Each line also names the tiled plan. Exit code 1 on a disagreement or an exception. <c>small</c>:
/// 1/16 of the channels, 1/4 of the side, batch 2 (the simulator).
/// PyTorch's numbers for the same shapes: <c>Samples/GpuCheck/torch/depthwise.py</c>.
/// </summary>
internal static class DepthwiseCheck
{
    private const double Bound = 1e-5;

    public static int Run(string[] args)
    {
        var kind = Enum.Parse<DeviceKind>(args.Length > 0 ? args[0] : "cuda", ignoreCase: true);
        bool small = args.Length > 1 && args[1] == "small";
        using var gpu = IlgpuBackend.Create(kind, 0);
        Console.WriteLine($"depthwise check on {gpu.Device}: {gpu.Accelerator.Name}; {(small ? "small" : "full")} sizes; float32, 7x7 p3 s1");
        int failures = 0;
        var cases = new List<(int C, int Hw, bool Cl)> { (96, 56, true), (192, 28, true), (384, 14, true), (768, 7, true), (96, 56, false) };
        int n = small ? 2 : 64;
        foreach (var (c0, hw0, cl) in cases)
        {
            var (c, hw) = small ? (Math.Max(6, c0 / 16), Math.Max(7, hw0 / 4)) : (c0, hw0);
            try { using (GpuMemory.Scope()) failures += RunCase(gpu, n, c, hw, cl); }
            catch (Exception ex) { failures++; Console.WriteLine($"FAIL dw7x7 {c}@{hw} b{n}: {ex.GetType().Name}: {ex.Message}"); }
        }
        Console.WriteLine($"depthwise: {failures} failure(s), {gpu.CompiledKernels} kernels compiled");
        return failures == 0 ? 0 : 1;
    }

    private static int RunCase(IlgpuBackend gpu, int n, int c, int hw, bool cl)
    {
        var dev = gpu.Device;
        var p = new Conv2dParams(1, 1, 3, 3, 1, 1, c);
        int[] shape = [n, c, hw, hw], ws = [c, 1, 7, 7];
        var g = new Generator((ulong)(c * 1000 + hw));
        Tensor Layout(Tensor t) => cl ? t.Permute(0, 2, 3, 1).Contiguous().Permute(0, 3, 1, 2) : t;
        Tensor Empty() => cl ? Tensor.Empty([n, hw, hw, c], DType.Float32, dev).Permute(0, 3, 1, 2) : Tensor.Empty(shape, DType.Float32, dev);
        var x = Layout(Tensor.Normal(shape, 0, 1, g, device: dev));
        var dy = Layout(Tensor.Normal(shape, 0, 1, g, device: dev));
        var w = Tensor.Normal(ws, 0, Math.Sqrt(2.0 / 49), g, device: dev);
        var b = Tensor.Normal([c], 0, 0.5, g, device: dev);
        double act = 4.0 * n * c * hw * hw, wBytes = 4.0 * c * 49;
        var passes = new (string Name, GpuConvPass Pass, Func<Tensor> Op, double Bytes)[]
        {
            ("forward", GpuConvPass.Forward, () => { var y = Empty(); gpu.Conv2dForward(x, w, b, y, p); return y; }, 2 * act + wBytes),
            ("grad input", GpuConvPass.BackwardInput, () => { var d = Empty(); gpu.Conv2dBackwardInput(dy, w, d, p); return d; }, 2 * act + wBytes),
            ("grad weight", GpuConvPass.BackwardWeight, () => { var d = Tensor.Empty(ws, DType.Float32, dev); gpu.Conv2dBackwardWeight(dy, x, d, p); return d; }, 2 * act + wBytes),
        };
        int bad = 0;
        string what = $"dw7x7 {c}@{hw} b{n} {(cl ? "cl" : "nchw")}";
        foreach (var (name, pass, op, bytes) in passes)
        {
            var plan = gpu.PlanConv(pass, DType.Float32, shape, ws, shape, p, cl);
            var (tiled, tTiled) = Time(gpu, op);
            bool saved = gpu.TiledDepthwise;
            gpu.TiledDepthwise = false;
            (Tensor, double) reference;
            try { reference = Time(gpu, op); }
            finally { gpu.TiledDepthwise = saved; }
            var (perElement, tOld) = reference;
            double err = RelError(perElement, tiled);
            bool ok = err <= Bound && plan.Kernel == GpuConvKernel.DepthwiseTiled;
            if (!ok) bad++;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{(ok ? "PASS" : "FAIL")} {what,-26} {name,-12} tiled {tTiled,8:F3} ms {bytes / tTiled / 1e6,7:F0} GB/s | per-element {tOld,8:F3} ms " +
                $"{bytes / tOld / 1e6,7:F0} GB/s | speed-up {tOld / tTiled,5:F2}x | rel {err:0.0E+00} | {plan}"));
            GpuMemory.Release(tiled, perElement);
        }
        GpuMemory.Release(x, dy, w, b);
        return bad;
    }

    /// <summary>The result of one warm-up run and the median ms of 5 synchronised runs after it.</summary>
    private static (Tensor Result, double Ms) Time(IlgpuBackend gpu, Func<Tensor> op)
    {
        var r = op();
        gpu.Synchronize();
        var times = new double[5];
        for (int i = 0; i < times.Length; i++)
        {
            GpuMemory.Release(r);
            long t0 = Stopwatch.GetTimestamp();
            r = op();
            gpu.Synchronize();
            times[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        }
        Array.Sort(times);
        return (r, times[times.Length / 2]);
    }

    private static double RelError(Tensor expected, Tensor actual)
    {
        var e = expected.Contiguous().To(Device.Cpu).ToArray<float>();
        var a = actual.Contiguous().To(Device.Cpu).ToArray<float>();
        double diff = 0, scale = 1e-30;
        for (int i = 0; i < e.Length; i++)
        {
            double d = Math.Abs((double)a[i] - e[i]);
            diff = double.IsNaN(d) ? double.PositiveInfinity : Math.Max(diff, d);
            scale = Math.Max(scale, Math.Abs(e[i]));
        }
        return diff / scale;
    }
}
