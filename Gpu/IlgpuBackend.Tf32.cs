using Sparkle.Gpu.Memory;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using Sparkle.Gpu.Kernels;
using Sparkle.Tensors;

namespace Sparkle.Gpu;

/// <summary>
/// TF32 tensor cores (docs/gpu.md "Tensor cores (TF32)"): float32 <see cref="MatMul"/> and the float32 convolution
/// passes the plan gives the tiled implicit GEMM (forward, input and weight gradient: <see cref="GpuConvKernel.Tf32"/>)
/// run on <see cref="Tf32Gemm"/> when <see cref="AllowTf32"/> is on and the device can (CUDA sm_80+, or the
/// warp-32 CPU simulator, which runs the emulated mma). float64 never does. On a CUDA device the first use runs a small
/// GEMM through both the TF32 and the FP32 kernel; if they disagree beyond TF32's error (<see cref="Tf32SelfCheckBound"/>)
/// or the TF32 kernel fails to compile or launch, TF32 is switched off for this backend with one line on stderr.
/// </summary>
public sealed partial class IlgpuBackend
{
    private bool? _allowTf32;
    private int _tf32Checked;                      // 0 not yet, 1 passed (or not needed), -1 failed
    private Delegate? _tf32MatMul, _tf32Conv, _tf32ConvInput, _tf32ConvWeight;

    /// <summary>Run float32 GEMMs and convolutions (all three passes) on TF32 tensor cores (10-bit mantissa inputs, FP32 accumulation,
    /// as PyTorch's allow_tf32). Default: on for CUDA devices of compute capability 8.0 or newer unless the environment
    /// variable SPARKLE_TF32=0 (read once, on first use); off on the CPU simulator and OpenCL. Settable; setting it on has no
    /// effect on a device that cannot run the kernel (see <see cref="Tf32Capable"/>).</summary>
    public bool AllowTf32
    {
        get => _allowTf32 ??= DefaultAllowTf32();
        set => _allowTf32 = value;
    }

    /// <summary>Whether this device can run <see cref="Tf32Gemm"/>: a CUDA device of sm_80+, or a CPU simulator with warp-32,
    /// 256-thread groups (<see cref="CreateWarp32Simulator"/>; emulated mma, for tests).</summary>
    public bool Tf32Capable => _accelerator switch
    {
        CudaAccelerator cuda => cuda.Architecture is { } arch && arch.Major >= 8,
        CPUAccelerator cpu => cpu.WarpSize == 32 && cpu.MaxNumThreadsPerGroup >= Tf32Gemm.Threads,
        _ => false,
    };

    /// <summary>TF32 launches so far (tests and the device check see which path ran).</summary>
    public long Tf32Launches { get; private set; }

    /// <summary>The self-check's limit on ‖C_tf32 − C_fp32‖_F / ‖C_fp32‖_F: 2^-8. Rounding both inputs to tf32 (rna, unit
    /// roundoff 2^-11) perturbs each product by at most ~2^-10 relative; for the self-check's zero-mean random data that
    /// gives about 2^-10/√3 ≈ 6e-4 normwise whatever K, so 2^-8 (3.9e-3) leaves 7x margin, while a wrong fragment mapping,
    /// a lost tile or a single wrong element among the 9,100 (≥ 1/√9100 ≈ 1e-2) fails.</summary>
    public const double Tf32SelfCheckBound = 1.0 / 256;

    /// <summary>The self-check's result: null before it ran (or where it does not run), else the normwise error.</summary>
    public double? Tf32SelfCheckError { get; private set; }

    private bool DefaultAllowTf32() =>
        Tf32Default(_accelerator is CudaAccelerator, Tf32Capable, Environment.GetEnvironmentVariable("SPARKLE_TF32"));

    /// <summary>The default of <see cref="AllowTf32"/>: a capable CUDA device, unless SPARKLE_TF32 is "0".</summary>
    internal static bool Tf32Default(bool cuda, bool capable, string? env) => cuda && capable && env != "0";

    private bool UseTf32 => AllowTf32 && Tf32Capable && EnsureTf32SelfCheck();

    /// <summary>A backend on ILGPU's simulated NVIDIA-like CPU device (warp 32, groups up to 1024 threads; slow) as
    /// <c>ilgpucpu:1</c>, so tests and <c>sparkle-gpucheck tf32-sim</c> can run the TF32 kernel's emulated path.</summary>
    public static IlgpuBackend CreateWarp32Simulator()
    {
        var context = Context.Create(b => b.CPU(CPUDeviceKind.Nvidia).EnableAlgorithms());
        var backend = new IlgpuBackend(context, context.GetCPUDevice(0).CreateAccelerator(context), new Sparkle.Tensors.Device(DeviceKind.IlgpuCpu, 1));
        Tensors.Backend.Backends.Register(backend);
        GpuMemory.Register(backend);
        return backend;
    }

    /// <summary>float32 matmul on TF32 tensor cores when allowed; false: the caller runs the FP32 kernels.</summary>
    private bool TryTf32MatMul(Tensor a, Tensor b, Tensor dst, in MatMulArgs p)
    {
        int batches = dst.Shape[0];
        if (!UseTf32 || batches > 65535 || (p.M + Tf32Gemm.BM - 1) / Tf32Gemm.BM > 65535) return false;
        var dv = View<float>(dst);
        LaunchTf32MatMul(View<float>(a), View<float>(b), dv.SubView(dst.Offset, dv.Length - dst.Offset), p, batches);
        return true;
    }

    private void LaunchTf32MatMul(ArrayView1D<float, Stride1D.Dense> av, ArrayView1D<float, Stride1D.Dense> bv,
        ArrayView1D<float, Stride1D.Dense> dv, MatMulArgs p, int batches)
    {
        var kernel = (Action<KernelConfig, ArrayView1D<float, Stride1D.Dense>, ArrayView1D<float, Stride1D.Dense>, ArrayView1D<float, Stride1D.Dense>,
            ArrayView1D<float, Stride1D.Dense>, MatMulArgs, Tf32Shape>)(_tf32MatMul ??= _accelerator.LoadStreamKernel<ArrayView1D<float, Stride1D.Dense>,
                ArrayView1D<float, Stride1D.Dense>, ArrayView1D<float, Stride1D.Dense>, ArrayView1D<float, Stride1D.Dense>, MatMulArgs, Tf32Shape>(
                Tf32Gemm.Gemm<MatMulA<float>, MatMulB<float>, Tf32MatMulStore, MatMulArgs>));
        var shape = new Tf32Shape { M = p.M, N = p.N, K = p.K };
        var config = new KernelConfig(new Index3D((p.N + Tf32Gemm.BN - 1) / Tf32Gemm.BN, (p.M + Tf32Gemm.BM - 1) / Tf32Gemm.BM, batches),
            new Index3D(Tf32Gemm.Threads, 1, 1));
        lock (_gate)
        {
            Timed("MatMul(tf32)", config.GridDim.Size * (long)Tf32Gemm.Threads, Profile is null ? "" : $"B={batches} M={p.M} N={p.N} K={p.K}",
                () => kernel(config, av, bv, dv, dv, p, shape));
            Tf32Launches++;
        }
    }

    /// <summary>The float32 convolution forward of a <see cref="GpuConvKernel.Tf32"/> plan: per group W_g · im2col(X_g) + bias.</summary>
    private void Tf32ConvForward(Tensor x, Tensor w, Tensor? bias, Tensor y, ConvArgs a, GpuConvPlan plan)
    {
        var kernel = (Action<KernelConfig, ArrayView1D<float, Stride1D.Dense>, ArrayView1D<float, Stride1D.Dense>, ArrayView1D<float, Stride1D.Dense>,
            ArrayView1D<float, Stride1D.Dense>, ConvArgs, Tf32Shape>)(_tf32Conv ??= _accelerator.LoadStreamKernel<ArrayView1D<float, Stride1D.Dense>,
                ArrayView1D<float, Stride1D.Dense>, ArrayView1D<float, Stride1D.Dense>, ArrayView1D<float, Stride1D.Dense>, ConvArgs, Tf32Shape>(
                Tf32Gemm.Gemm<ConvWeightA<float>, ConvIm2ColB<float>, ConvOutputStore<float, F32>, ConvArgs>));
        var (xv, wv, yv) = (View<float>(x), View<float>(w), View<float>(y));
        var bv = bias is null ? wv : View<float>(bias);            // unread when HasBias = 0
        var shape = new Tf32Shape { M = (int)plan.M, N = (int)plan.N, K = (int)plan.K };
        Tf32Launch(plan, a, () => kernel(Config(plan), wv, xv, yv, bv, a, shape));
    }

    /// <summary>The float32 input gradient of a <see cref="GpuConvKernel.Tf32"/> plan: one GEMM per group and stride phase.</summary>
    private void Tf32ConvBackwardInput(Tensor dy, Tensor w, Tensor dx, ConvArgs a, GpuConvPlan plan)
    {
        var kernel = (Action<KernelConfig, ArrayView1D<float, Stride1D.Dense>, ArrayView1D<float, Stride1D.Dense>, ArrayView1D<float, Stride1D.Dense>, ConvArgs>)(
            _tf32ConvInput ??= _accelerator.LoadStreamKernel<ArrayView1D<float, Stride1D.Dense>, ArrayView1D<float, Stride1D.Dense>,
                ArrayView1D<float, Stride1D.Dense>, ConvArgs>(Tf32ConvKernel.BackwardInput));
        var (yv, wv, xv) = (View<float>(dy), View<float>(w), View<float>(dx));
        Tf32Launch(plan, a, () => kernel(Config(plan), yv, wv, xv, a));
    }

    /// <summary>The float32 weight gradient of a <see cref="GpuConvKernel.Tf32"/> plan into dw or the split-K partials
    /// (<paramref name="dst"/>; the caller runs the finishing launch).</summary>
    private void Tf32ConvBackwardWeight(ArrayView1D<float, Stride1D.Dense> yv, ArrayView1D<float, Stride1D.Dense> xv,
        ArrayView1D<float, Stride1D.Dense> dst, ConvWeightGradArgs wa, GpuConvPlan plan)
    {
        var kernel = (Action<KernelConfig, ArrayView1D<float, Stride1D.Dense>, ArrayView1D<float, Stride1D.Dense>, ArrayView1D<float, Stride1D.Dense>, ConvWeightGradArgs>)(
            _tf32ConvWeight ??= _accelerator.LoadStreamKernel<ArrayView1D<float, Stride1D.Dense>, ArrayView1D<float, Stride1D.Dense>,
                ArrayView1D<float, Stride1D.Dense>, ConvWeightGradArgs>(Tf32ConvKernel.BackwardWeight));
        Tf32Launch(plan, wa.C, () => kernel(Config(plan), yv, xv, dst, wa));
    }

    private void Tf32Launch(GpuConvPlan plan, in ConvArgs a, Action launch)
    {
        string detail = Detail(a, plan);
        lock (_gate)
        {
            Timed(plan.LaunchName, Threads(plan), detail, launch);
            Tf32Launches++;
        }
    }

    /// <summary>Runs <see cref="RunTf32SelfCheck"/> once, on the first TF32 use on a CUDA device (the simulator's emulated
    /// path is covered by the tests); on failure turns <see cref="AllowTf32"/> off and says so on stderr.</summary>
    private bool EnsureTf32SelfCheck()
    {
        if (_tf32Checked != 0) return _tf32Checked > 0;
        lock (_gate)
        {
            if (_tf32Checked != 0) return _tf32Checked > 0;
            if (_accelerator is not CudaAccelerator) { _tf32Checked = 1; return true; }
            _tf32Checked = 1;                                          // the check's own launch must not recurse
            string? why = null;
            try
            {
                double err = RunTf32SelfCheck();
                if (!(err <= Tf32SelfCheckBound)) why = $"relative error {err:E2} > bound {Tf32SelfCheckBound:E2}";
            }
            catch (Exception ex) { why = $"{ex.GetType().Name}: {ex.Message}"; }
            if (why is null) return true;
            _tf32Checked = -1;
            _allowTf32 = false;
            Console.Error.WriteLine($"sparkle: TF32 self-check failed on {_accelerator.Name} (130x70x200 GEMM vs FP32): {why}; TF32 is off, the FP32 kernels run.");
            return false;
        }
    }

    /// <summary>A 130x70x200 GEMM (edges in M, N and K) of uniform [-1, 1) floats (full 24-bit mantissas) through the TF32
    /// kernel, compared with a float64 host product of the unrounded inputs: returns ‖C_tf32 − C‖_F / ‖C‖_F (NaN counts
    /// as failure). Public so <c>sparkle-gpucheck tf32</c> can report it; runs on any <see cref="Tf32Capable"/> device.</summary>
    public double RunTf32SelfCheck()
    {
        const int m = 130, n = 70, k = 200;
        var rng = new Random(20261127);
        var ha = new float[m * k];
        var hb = new float[k * n];
        for (int i = 0; i < ha.Length; i++) ha[i] = (float)(rng.NextDouble() * 2 - 1);
        for (int i = 0; i < hb.Length; i++) hb[i] = (float)(rng.NextDouble() * 2 - 1);
        using var da = _accelerator.Allocate1D(ha);
        using var db = _accelerator.Allocate1D(hb);
        using var dc = _accelerator.Allocate1D<float>(m * n);
        var p = new MatMulArgs { M = m, N = n, K = k, SaM = k, SaK = 1, SbK = n, SbN = 1 };
        LaunchTf32MatMul(da.View, db.View, dc.View, p, 1);
        _accelerator.Synchronize();
        var hc = dc.GetAsArray1D();
        double num = 0, den = 0;
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double e = 0;
                for (int q = 0; q < k; q++) e += (double)ha[i * k + q] * hb[q * n + j];
                double d = hc[i * n + j] - e;
                num += d * d;
                den += e * e;
            }
        Tf32SelfCheckError = Math.Sqrt(num / den);
        return Tf32SelfCheckError.Value;
    }
}
