using Sparkle.Benchmarks.Quick;
using Sparkle.Tensors.Cpu.Gemm;

namespace Sparkle.Benchmarks.Gemm;

/// <summary>`quick gemmparts`: the pieces of the packed GEMM in isolation (packing throughput, micro-kernel
/// rate from L1/L2), to see where time goes when the whole falls short of the peak.</summary>
public sealed class GemmPartsSuite : IQuickSuite
{
    public string Name => "gemmparts";

    public void Run(string[] args)
    {
        const int kc = 256, mc = 144, nc = 1024, ld = 1024;
        var src = new float[ld * ld];
        for (int i = 0; i < src.Length; i++) src[i] = i % 7;
        var buf = new float[kc * 1024 + 64];
        var rowMajor = new StridedMatrix<float>(src, 0, ld, 1);
        var colMajor = new StridedMatrix<float>(src, 0, 1, ld);
        void Report(string what, int elements, Action a)
        {
            var (med, min) = QuickRunner.Time(a, reps: 15, warmup: 3);
            Console.WriteLine($"gemmparts {what} median_us={med * 1e3:F1} ns_per_elem={med * 1e6 / elements:F3} best_ns_per_elem={min * 1e6 / elements:F3}");
        }
        Report("packA rowmajor mc=144 kc=256", mc * kc, () => Packing<float, MicroKernelV256<float>>.PackA(rowMajor, mc, kc, ref buf[0]));
        Report("packA colmajor mc=144 kc=256", mc * kc, () => Packing<float, MicroKernelV256<float>>.PackA(colMajor, mc, kc, ref buf[0]));
        Report("packB rowmajor kc=256 nc=1024", kc * nc, () => Packing<float, MicroKernelV256<float>>.PackB(rowMajor, kc, nc, 0, nc / 16, ref buf[0]));
        Report("packB colmajor kc=256 nc=1024", kc * nc, () => Packing<float, MicroKernelV256<float>>.PackB(colMajor, kc, nc, 0, nc / 16, ref buf[0]));

        // Micro-kernel as the macro-kernel drives it: one B micro-panel (L1) against the 24 A micro-panels
        // of an MC=144 block (L2), C tiles in a 144 x 1024 row-major block.
        var a = new float[mc * kc]; var b = new float[16 * kc]; var c = new float[mc * ld];
        for (int i = 0; i < a.Length; i++) a[i] = 1e-3f * (i % 5);
        for (int i = 0; i < b.Length; i++) b[i] = 1e-3f * (i % 3);
        const int calls = 2000;
        var (kmed, _) = QuickRunner.Time(() =>
        {
            for (int i = 0; i < calls; i++) MicroKernelV256<float>.Run(kc, ref a[(i % 24) * 6 * kc], ref b[0], ref c[(i % 24) * 6 * ld + (i / 24 % 64) * 16], ld, add: true);
        }, reps: 9, warmup: 3);
        Console.WriteLine($"gemmparts kernel v256 6x16 kc=256 gflops={2.0 * 6 * 16 * kc * calls / (kmed * 1e6):F1}");
    }
}
