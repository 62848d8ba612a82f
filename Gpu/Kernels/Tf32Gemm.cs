using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace Sparkle.Gpu.Kernels;

/// <summary>M, N, K of one GEMM of a <see cref="Tf32Gemm"/> launch (the operands know their own bounds; the core needs
/// them for the K loop and the store bounds).</summary>
public struct Tf32Shape
{
    public int M, N, K;
}

/// <summary>
/// TF32 tensor-core GEMM core, float32 in and out, FP32 accumulation: C[z] = A[z] · B[z] through any
/// <see cref="IGemmOperand{T, TArgs}"/> pair and <see cref="IGemmStore{T, TArgs}"/> (matmul, implicit-GEMM convolution).
/// Explicitly grouped: grid (ceil(N/BN), ceil(M/BM), Z), 256 threads = 8 warps. <see cref="Block"/> is the core over one
/// GEMM number z and a k range (the conv gradient entries of <see cref="Tf32ConvKernel"/> pick z's stride phase or split
/// part); <see cref="Gemm"/> the entry for one whole GEMM per z. Block tile 128x128, K in tiles of 16
/// staged in shared memory k-major ([k][m], [k][n], rows padded by 8 floats: the fragment reads of a warp hit 32
/// distinct banks). Warp w owns rows (w % 2)·64.. and columns (w / 2)·32..: 4 x 4 tiles of
/// <c>mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32</c>, 16 mma per k8 step, 64 accumulators per lane.
/// Fragments are read from shared memory per <see cref="Tf32Fragment"/> and rounded with <c>cvt.rna.tf32.f32</c>.
/// The tile loaders read 0 outside the matrices, so M, N, K need not be multiples of the tile (zero products are exact).
/// On CUDA the accumulators and fragments live in named PTX registers (<see cref="Tf32Ptx"/>); elsewhere (the ILGPU CPU
/// simulator with warp-32 groups) the same tiles and fragment loads feed <see cref="Tf32MmaEmulation"/>, an emulated
/// warp mma, so the fragment mapping is tested without a GPU. Not done yet: double buffering, cp.async, ldmatrix,
/// vectorised loads.
/// </summary>
public static class Tf32Gemm
{
    public const int BM = 128, BN = 128, BK = 16, Threads = 256;
    private const int SA = BM + 8, SB = BN + 8;

    /// <summary>The matmul / convolution-forward entry: grid z is the batch (or group), one GEMM of shape <paramref name="s"/> each.</summary>
    public static void Gemm<TA, TB, TS, TArgs>(ArrayView1D<float, Stride1D.Dense> a, ArrayView1D<float, Stride1D.Dense> b,
        ArrayView1D<float, Stride1D.Dense> dst, ArrayView1D<float, Stride1D.Dense> extra, TArgs args, Tf32Shape s)
        where TA : struct, IGemmOperand<float, TArgs> where TB : struct, IGemmOperand<float, TArgs>
        where TS : struct, IGemmStore<float, TArgs> where TArgs : struct
    {
        var sa = SharedMemory.Allocate<float>(SharedA);
        var sb = SharedMemory.Allocate<float>(SharedB);
        var emu = SharedMemory.Allocate<float>(Tf32MmaEmulation.Scratch);   // emulation only; unused (removed) on CUDA
        var acc = LocalMemory.Allocate<float>(64);                 // emulation only; on CUDA the tfc registers
        Block<TA, TB, TS, TArgs>(sa, sb, emu, acc, a, b, dst, extra, args, Grid.IdxZ, s.M, s.N, 0, s.K);
    }

    /// <summary>Elements of the shared tiles an entry allocates and passes to <see cref="Block"/> (SharedMemory and
    /// LocalMemory must be allocated in the entry): A [k][m], B [k][n], and the emulation's scratch.</summary>
    public const int SharedA = BK * SA, SharedB = BK * SB;

    /// <summary>One 128x128 block tile (Grid.IdxX, Grid.IdxY) of GEMM number <paramref name="z"/>, C[z][m, n] =
    /// Σ_{k in [kBegin, kEnd)} A[z][m, k]·B[z][k, n], for M = <paramref name="m"/> and N = <paramref name="n"/> (the
    /// store's bounds; the loaders return 0 beyond their own): the entries pick z's GEMM (a stride phase, a split-K part).
    /// K tiles start at kBegin; elements at or past kEnd stage as 0 (a split part reads only its own range).</summary>
    public static void Block<TA, TB, TS, TArgs>(ArrayView<float> sa, ArrayView<float> sb, ArrayView<float> emu, ArrayView<float> acc,
        ArrayView1D<float, Stride1D.Dense> a, ArrayView1D<float, Stride1D.Dense> b,
        ArrayView1D<float, Stride1D.Dense> dst, ArrayView1D<float, Stride1D.Dense> extra, TArgs args, int z, int m, int n, int kBegin, int kEnd)
        where TA : struct, IGemmOperand<float, TArgs> where TB : struct, IGemmOperand<float, TArgs>
        where TS : struct, IGemmStore<float, TArgs> where TArgs : struct
    {
        int tid = Group.IdxX, lane = tid & 31, warp = tid >> 5;
        int wm = (warp & 1) * 64, wn = (warp >> 1) * 32;
        int m0 = Grid.IdxY * BM, n0 = Grid.IdxX * BN;
        var s = new Tf32Shape { M = m, N = n, K = kEnd };
        bool aColFast = default(TA).ColumnFast(args), bColFast = default(TB).ColumnFast(args);
        if (CudaAsm.IsSupported) CudaAsm.Emit(Tf32Ptx.Declare);
        else for (int q = 0; q < 64; q++) acc[q] = 0.0f;
        for (int k0 = kBegin; k0 < kEnd; k0 += BK)
        {
            // Each operand's unit-stride index across consecutive threads: coalesced global loads.
            for (int l = tid; l < BM * BK; l += Threads)
            {
                int mm, kk;
                if (aColFast) { kk = l % BK; mm = l / BK; }
                else { mm = l % BM; kk = l / BM; }
                sa[kk * SA + mm] = k0 + kk < kEnd ? default(TA).Load(a, args, z, m0 + mm, k0 + kk) : 0.0f;
            }
            for (int l = tid; l < BK * BN; l += Threads)
            {
                int kk, nn;
                if (bColFast) { nn = l % BN; kk = l / BN; }
                else { kk = l % BK; nn = l / BK; }
                sb[kk * SB + nn] = k0 + kk < kEnd ? default(TB).Load(b, args, z, k0 + kk, n0 + nn) : 0.0f;
            }
            Group.Barrier();
            Step(sa, sb, emu, acc, 0, lane, warp, wm, wn);
            Step(sa, sb, emu, acc, 8, lane, warp, wm, wn);
            Group.Barrier();
        }
        int mw = m0 + wm, nw = n0 + wn;
        if (CudaAsm.IsSupported)
        {
            // Constant tile numbers: each Read is one switch case after inlining.
            Store<TS, TArgs>(dst, extra, args, s, z, mw, nw, lane, Tf32Ptx.Read(0));
            Store<TS, TArgs>(dst, extra, args, s, z, mw, nw + 8, lane, Tf32Ptx.Read(1));
            Store<TS, TArgs>(dst, extra, args, s, z, mw, nw + 16, lane, Tf32Ptx.Read(2));
            Store<TS, TArgs>(dst, extra, args, s, z, mw, nw + 24, lane, Tf32Ptx.Read(3));
            Store<TS, TArgs>(dst, extra, args, s, z, mw + 16, nw, lane, Tf32Ptx.Read(4));
            Store<TS, TArgs>(dst, extra, args, s, z, mw + 16, nw + 8, lane, Tf32Ptx.Read(5));
            Store<TS, TArgs>(dst, extra, args, s, z, mw + 16, nw + 16, lane, Tf32Ptx.Read(6));
            Store<TS, TArgs>(dst, extra, args, s, z, mw + 16, nw + 24, lane, Tf32Ptx.Read(7));
            Store<TS, TArgs>(dst, extra, args, s, z, mw + 32, nw, lane, Tf32Ptx.Read(8));
            Store<TS, TArgs>(dst, extra, args, s, z, mw + 32, nw + 8, lane, Tf32Ptx.Read(9));
            Store<TS, TArgs>(dst, extra, args, s, z, mw + 32, nw + 16, lane, Tf32Ptx.Read(10));
            Store<TS, TArgs>(dst, extra, args, s, z, mw + 32, nw + 24, lane, Tf32Ptx.Read(11));
            Store<TS, TArgs>(dst, extra, args, s, z, mw + 48, nw, lane, Tf32Ptx.Read(12));
            Store<TS, TArgs>(dst, extra, args, s, z, mw + 48, nw + 8, lane, Tf32Ptx.Read(13));
            Store<TS, TArgs>(dst, extra, args, s, z, mw + 48, nw + 16, lane, Tf32Ptx.Read(14));
            Store<TS, TArgs>(dst, extra, args, s, z, mw + 48, nw + 24, lane, Tf32Ptx.Read(15));
        }
        else
        {
            for (int q = 0; q < 16; q++)
                Store<TS, TArgs>(dst, extra, args, s, z, mw + 16 * (q >> 2), nw + 8 * (q & 3), lane,
                    new Tf32Frag4(acc[4 * q], acc[4 * q + 1], acc[4 * q + 2], acc[4 * q + 3]));
        }
    }

    /// <summary>One k8 step of the warp tile: fragment loads from the staged tiles, then 16 mma (or their emulation).</summary>
    private static void Step(ArrayView<float> sa, ArrayView<float> sb, ArrayView<float> emu, ArrayView<float> acc,
        int ks, int lane, int warp, int wm, int wn)
    {
        var a0 = LoadA(sa, ks, lane, wm);
        var a1 = LoadA(sa, ks, lane, wm + 16);
        var a2 = LoadA(sa, ks, lane, wm + 32);
        var a3 = LoadA(sa, ks, lane, wm + 48);
        var b0 = LoadB(sb, ks, lane, wn);
        var b1 = LoadB(sb, ks, lane, wn + 8);
        var b2 = LoadB(sb, ks, lane, wn + 16);
        var b3 = LoadB(sb, ks, lane, wn + 24);
        if (CudaAsm.IsSupported)
        {
            CudaAsm.Emit(Tf32Ptx.CvtA0, a0.X0, a0.X1, a0.X2, a0.X3);
            CudaAsm.Emit(Tf32Ptx.CvtA1, a1.X0, a1.X1, a1.X2, a1.X3);
            CudaAsm.Emit(Tf32Ptx.CvtA2, a2.X0, a2.X1, a2.X2, a2.X3);
            CudaAsm.Emit(Tf32Ptx.CvtA3, a3.X0, a3.X1, a3.X2, a3.X3);
            CudaAsm.Emit(Tf32Ptx.CvtB0, b0.X0, b0.X1);
            CudaAsm.Emit(Tf32Ptx.CvtB1, b1.X0, b1.X1);
            CudaAsm.Emit(Tf32Ptx.CvtB2, b2.X0, b2.X1);
            CudaAsm.Emit(Tf32Ptx.CvtB3, b3.X0, b3.X1);
            CudaAsm.Emit(Tf32Ptx.Mma);
        }
        else Tf32MmaEmulation.Step(emu, acc, lane, warp, a0, a1, a2, a3, b0, b1, b2, b3);
    }

    private static Tf32Frag4 LoadA(ArrayView<float> sa, int ks, int lane, int mBase) => new(
        sa[(ks + Tf32Fragment.ACol(lane, 0)) * SA + mBase + Tf32Fragment.ARow(lane, 0)],
        sa[(ks + Tf32Fragment.ACol(lane, 1)) * SA + mBase + Tf32Fragment.ARow(lane, 1)],
        sa[(ks + Tf32Fragment.ACol(lane, 2)) * SA + mBase + Tf32Fragment.ARow(lane, 2)],
        sa[(ks + Tf32Fragment.ACol(lane, 3)) * SA + mBase + Tf32Fragment.ARow(lane, 3)]);

    private static Tf32Frag2 LoadB(ArrayView<float> sb, int ks, int lane, int nBase) => new(
        sb[(ks + Tf32Fragment.BRow(lane, 0)) * SB + nBase + Tf32Fragment.BCol(lane, 0)],
        sb[(ks + Tf32Fragment.BRow(lane, 1)) * SB + nBase + Tf32Fragment.BCol(lane, 1)]);

    /// <summary>Writes one lane's accumulator tile (rows mBase.., columns nBase..), bounds-checked.</summary>
    private static void Store<TS, TArgs>(ArrayView1D<float, Stride1D.Dense> dst, ArrayView1D<float, Stride1D.Dense> extra,
        TArgs args, Tf32Shape s, int z, int mBase, int nBase, int lane, Tf32Frag4 c)
        where TS : struct, IGemmStore<float, TArgs> where TArgs : struct
    {
        Put<TS, TArgs>(dst, extra, args, s, z, mBase + Tf32Fragment.CRow(lane, 0), nBase + Tf32Fragment.CCol(lane, 0), c.X0);
        Put<TS, TArgs>(dst, extra, args, s, z, mBase + Tf32Fragment.CRow(lane, 1), nBase + Tf32Fragment.CCol(lane, 1), c.X1);
        Put<TS, TArgs>(dst, extra, args, s, z, mBase + Tf32Fragment.CRow(lane, 2), nBase + Tf32Fragment.CCol(lane, 2), c.X2);
        Put<TS, TArgs>(dst, extra, args, s, z, mBase + Tf32Fragment.CRow(lane, 3), nBase + Tf32Fragment.CCol(lane, 3), c.X3);
    }

    private static void Put<TS, TArgs>(ArrayView1D<float, Stride1D.Dense> dst, ArrayView1D<float, Stride1D.Dense> extra,
        TArgs args, Tf32Shape s, int z, int row, int col, float v)
        where TS : struct, IGemmStore<float, TArgs> where TArgs : struct
    {
        if (row < s.M && col < s.N) default(TS).Store(dst, extra, args, z, row, col, v);
    }
}

/// <summary>The matmul's output for <see cref="Tf32Gemm"/>: dst[z][row, col] (contiguous (B, M, N) from the view's
/// start; the caller passes the view from the tensor's offset), added to the old value when
/// <see cref="MatMulArgs.Accumulate"/>.</summary>
public struct Tf32MatMulStore : IGemmStore<float, MatMulArgs>
{
    public readonly void Store(ArrayView1D<float, Stride1D.Dense> dst, ArrayView1D<float, Stride1D.Dense> extra, MatMulArgs p, int z, int row, int col, float value)
    {
        int i = (z * p.M + row) * p.N + col;
        dst[i] = p.Accumulate != 0 ? dst[i] + value : value;
    }
}

/// <summary>The instantiations of <see cref="Tf32Gemm.Gemm"/> the backend launches (for <see cref="KernelCatalog"/>).</summary>
public static partial class Tf32Kernels
{
    public static readonly System.Reflection.MethodInfo MatMul = typeof(Tf32Gemm).GetMethod(nameof(Tf32Gemm.Gemm))!
        .MakeGenericMethod(typeof(MatMulA<float>), typeof(MatMulB<float>), typeof(Tf32MatMulStore), typeof(MatMulArgs));
    public static readonly System.Reflection.MethodInfo ConvForward = typeof(Tf32Gemm).GetMethod(nameof(Tf32Gemm.Gemm))!
        .MakeGenericMethod(typeof(ConvWeightA<float>), typeof(ConvIm2ColB<float>), typeof(ConvOutputStore<float, F32>), typeof(ConvArgs));

    public static IEnumerable<System.Reflection.MethodInfo> Catalog() =>
        [MatMul, ConvForward, typeof(Tf32ConvKernel).GetMethod(nameof(Tf32ConvKernel.BackwardInput))!,
            typeof(Tf32ConvKernel).GetMethod(nameof(Tf32ConvKernel.BackwardWeight))!];
}
