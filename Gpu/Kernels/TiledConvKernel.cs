using ILGPU;
using ILGPU.Runtime;

namespace Sparkle.Gpu.Kernels;

/// <summary>
/// The three convolution passes as implicit GEMMs on the <see cref="TiledGemm"/> core, one grid z per group (and split-K
/// part), the batch folded into the pixel dimension; im2col / col2im indices are computed in the loaders, so no column
/// buffer exists. Thin entries: they allocate the shared tiles and pick the loaders; each pass also has a wide entry
/// (8x8 micro-tiles on 128x128 tiles, <see cref="TiledGemm.BlockWide"/>) that the plan picks for 256-thread groups.
/// - <see cref="Forward{T, TE}"/>: Y_g (Og x N·OH·OW) = W_g (Og x Cg·KH·KW) · im2col(X_g) + bias.
/// - <see cref="BackwardInput{T, TE}"/>: dX_g (Cg x N·H·W) = W_gᵀ (Cg x Og·KH·KW) · taps(dY_g) (also ConvTranspose2d's forward),
///   one GEMM per stride phase (<see cref="ConvPhase"/>): grid z = g·SH·SW + phase, each over only the taps that reach it.
/// - <see cref="BackwardWeight{T, TE}"/>: dW_g (Og x Cg·KH·KW) = dY_g (Og x P) · im2col(X_g)ᵀ over one part of the
///   P = N·OH·OW positions per grid z = g·Parts + part.
/// </summary>
public static class TiledConvKernel
{
    public static void Forward<T, TE>(ArrayView1D<T, Stride1D.Dense> x, ArrayView1D<T, Stride1D.Dense> w,
        ArrayView1D<T, Stride1D.Dense> bias, ArrayView1D<T, Stride1D.Dense> y, ConvArgs a, int tx, int ty)
        where T : unmanaged where TE : struct, IElement<T>
    {
        var sa = SharedMemory.Allocate<T>(TiledGemm.SharedTile);
        var sb = SharedMemory.Allocate<T>(TiledGemm.SharedTile);
        TiledGemm.Block<T, TE, ConvArgs, ConvWeightA<T>, ConvIm2ColB<T>, ConvOutputStore<T, TE>>(sa, sb, w, x, y, bias, a,
            Grid.IdxZ, a.Og, a.N * a.OH * a.OW, 0, a.Cg * a.KH * a.KW, tx, ty);
    }

    public static void BackwardInput<T, TE>(ArrayView1D<T, Stride1D.Dense> dy, ArrayView1D<T, Stride1D.Dense> w,
        ArrayView1D<T, Stride1D.Dense> dx, ConvArgs a, int tx, int ty)
        where T : unmanaged where TE : struct, IElement<T>
    {
        var sa = SharedMemory.Allocate<T>(TiledGemm.SharedTile);
        var sb = SharedMemory.Allocate<T>(TiledGemm.SharedTile);
        int z = Grid.IdxZ;
        ConvPhase.Of(a, z, out _, out int rh, out int rw, out _, out _, out int nky, out int nkx);
        int pixels = a.N * ConvPhase.Count(a.H, rh, a.SH) * ConvPhase.Count(a.W, rw, a.SW);
        TiledGemm.Block<T, TE, ConvArgs, ConvWeightTA<T>, ConvGradTapsB<T>, ConvInputGradStore<T>>(sa, sb, w, dy, dx, dx, a,
            z, a.Cg, pixels, 0, a.Og * nky * nkx, tx, ty);
    }

    public static void BackwardWeight<T, TE>(ArrayView1D<T, Stride1D.Dense> dy, ArrayView1D<T, Stride1D.Dense> x,
        ArrayView1D<T, Stride1D.Dense> dst, ConvWeightGradArgs a, int tx, int ty)
        where T : unmanaged where TE : struct, IElement<T>
    {
        var sa = SharedMemory.Allocate<T>(TiledGemm.SharedTile);
        var sb = SharedMemory.Allocate<T>(TiledGemm.SharedTile);
        int z = Grid.IdxZ, part = z % a.Parts;
        int positions = a.C.N * a.C.OH * a.C.OW;
        int k0 = part * a.Chunk, k1 = k0 + a.Chunk < positions ? k0 + a.Chunk : positions;
        TiledGemm.Block<T, TE, ConvWeightGradArgs, ConvGradOutputA<T>, ConvIm2ColTB<T>, ConvWeightGradStore<T>>(sa, sb, dy, x, dst, dst, a,
            z, a.C.Og, a.C.Cg * a.C.KH * a.C.KW, k0, k1, tx, ty);
    }

    // The wide (8x8 micro-tile, 128x128, 256 threads) entries: the same GEMMs on TiledGemm.BlockWide. tx and ty are unused
    // (always 16): the signatures match the entries above, so the backend launches either through one delegate type.

    public static void ForwardWide<T, TE>(ArrayView1D<T, Stride1D.Dense> x, ArrayView1D<T, Stride1D.Dense> w,
        ArrayView1D<T, Stride1D.Dense> bias, ArrayView1D<T, Stride1D.Dense> y, ConvArgs a, int tx, int ty)
        where T : unmanaged where TE : struct, IElement<T>
    {
        var sa = SharedMemory.Allocate<T>(TiledGemm.SharedTileWide);
        var sb = SharedMemory.Allocate<T>(TiledGemm.SharedTileWide);
        TiledGemm.BlockWide<T, TE, ConvArgs, ConvWeightA<T>, ConvIm2ColB<T>, ConvOutputStore<T, TE>>(sa, sb, w, x, y, bias, a,
            Grid.IdxZ, a.Og, a.N * a.OH * a.OW, 0, a.Cg * a.KH * a.KW);
    }

    public static void BackwardInputWide<T, TE>(ArrayView1D<T, Stride1D.Dense> dy, ArrayView1D<T, Stride1D.Dense> w,
        ArrayView1D<T, Stride1D.Dense> dx, ConvArgs a, int tx, int ty)
        where T : unmanaged where TE : struct, IElement<T>
    {
        var sa = SharedMemory.Allocate<T>(TiledGemm.SharedTileWide);
        var sb = SharedMemory.Allocate<T>(TiledGemm.SharedTileWide);
        int z = Grid.IdxZ;
        ConvPhase.Of(a, z, out _, out int rh, out int rw, out _, out _, out int nky, out int nkx);
        int pixels = a.N * ConvPhase.Count(a.H, rh, a.SH) * ConvPhase.Count(a.W, rw, a.SW);
        TiledGemm.BlockWide<T, TE, ConvArgs, ConvWeightTA<T>, ConvGradTapsB<T>, ConvInputGradStore<T>>(sa, sb, w, dy, dx, dx, a,
            z, a.Cg, pixels, 0, a.Og * nky * nkx);
    }

    public static void BackwardWeightWide<T, TE>(ArrayView1D<T, Stride1D.Dense> dy, ArrayView1D<T, Stride1D.Dense> x,
        ArrayView1D<T, Stride1D.Dense> dst, ConvWeightGradArgs a, int tx, int ty)
        where T : unmanaged where TE : struct, IElement<T>
    {
        var sa = SharedMemory.Allocate<T>(TiledGemm.SharedTileWide);
        var sb = SharedMemory.Allocate<T>(TiledGemm.SharedTileWide);
        int z = Grid.IdxZ, part = z % a.Parts;
        int positions = a.C.N * a.C.OH * a.C.OW;
        int k0 = part * a.Chunk, k1 = k0 + a.Chunk < positions ? k0 + a.Chunk : positions;
        TiledGemm.BlockWide<T, TE, ConvWeightGradArgs, ConvGradOutputA<T>, ConvIm2ColTB<T>, ConvWeightGradStore<T>>(sa, sb, dy, x, dst, dst, a,
            z, a.C.Og, a.C.Cg * a.C.KH * a.C.KW, k0, k1);
    }
}
