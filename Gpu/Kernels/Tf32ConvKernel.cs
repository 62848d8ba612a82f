using ILGPU;
using ILGPU.Runtime;

namespace Sparkle.Gpu.Kernels;

/// <summary>
/// The convolution's input and weight gradients on the TF32 core (<see cref="Tf32Gemm.Block"/>), float32 only: the same
/// GEMMs, loaders and stores as <see cref="TiledConvKernel"/>'s FP32 passes, on 128x128 tiles of 256 threads.
/// - <see cref="BackwardInput"/>: one GEMM per group and stride phase (<see cref="ConvPhase"/>), grid z = g·SH·SW + phase.
/// - <see cref="BackwardWeight"/>: grid z = g·Parts + part, part p reducing positions [p·Chunk, (p+1)·Chunk) into the
///   same dw or split-K partials as the FP32 pass (finished by <see cref="ConvKernels.FinishWeight{T, TE}"/>).
/// </summary>
public static class Tf32ConvKernel
{
    public static void BackwardInput(ArrayView1D<float, Stride1D.Dense> dy, ArrayView1D<float, Stride1D.Dense> w,
        ArrayView1D<float, Stride1D.Dense> dx, ConvArgs a)
    {
        var sa = SharedMemory.Allocate<float>(Tf32Gemm.SharedA);
        var sb = SharedMemory.Allocate<float>(Tf32Gemm.SharedB);
        var emu = SharedMemory.Allocate<float>(Tf32MmaEmulation.Scratch);
        var acc = LocalMemory.Allocate<float>(64);
        int z = Grid.IdxZ;
        ConvPhase.Of(a, z, out _, out int rh, out int rw, out _, out _, out int nky, out int nkx);
        int pixels = a.N * ConvPhase.Count(a.H, rh, a.SH) * ConvPhase.Count(a.W, rw, a.SW);
        Tf32Gemm.Block<ConvWeightTA<float>, ConvGradTapsB<float>, ConvInputGradStore<float>, ConvArgs>(sa, sb, emu, acc, w, dy, dx, dx, a,
            z, a.Cg, pixels, 0, a.Og * nky * nkx);
    }

    public static void BackwardWeight(ArrayView1D<float, Stride1D.Dense> dy, ArrayView1D<float, Stride1D.Dense> x,
        ArrayView1D<float, Stride1D.Dense> dst, ConvWeightGradArgs a)
    {
        var sa = SharedMemory.Allocate<float>(Tf32Gemm.SharedA);
        var sb = SharedMemory.Allocate<float>(Tf32Gemm.SharedB);
        var emu = SharedMemory.Allocate<float>(Tf32MmaEmulation.Scratch);
        var acc = LocalMemory.Allocate<float>(64);
        int z = Grid.IdxZ, part = z % a.Parts;
        int positions = a.C.N * a.C.OH * a.C.OW;
        int k0 = part * a.Chunk, k1 = k0 + a.Chunk < positions ? k0 + a.Chunk : positions;
        Tf32Gemm.Block<ConvGradOutputA<float>, ConvIm2ColTB<float>, ConvWeightGradStore<float>, ConvWeightGradArgs>(sa, sb, emu, acc, dy, x, dst, dst, a,
            z, a.C.Og, a.C.Cg * a.C.KH * a.C.KW, k0, k1);
    }
}
