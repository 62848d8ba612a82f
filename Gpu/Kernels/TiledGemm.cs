using ILGPU;
using ILGPU.Runtime;

namespace Sparkle.Gpu.Kernels;

/// <summary>
/// The one FP32/FP64 shared-memory GEMM core behind the matmul and every implicit-GEMM convolution pass: one block tile
/// C[z][m0.., n0..] = Σ_{k in [kBegin, kEnd)} A[z][m, k] · B[z][k, n], with A and B read element by element through
/// <see cref="IGemmOperand{T, TArgs}"/> loaders (0 outside the matrix and in padding) and each finished element written
/// through an <see cref="IGemmStore{T, TArgs}"/>. Called from an explicitly grouped kernel entry that allocates the two
/// shared tiles (<see cref="SharedMemory"/> must be allocated in the entry) and passes them in.
/// Layout: block (Grid.IdxX, Grid.IdxY) covers rows m0 = IdxY·4·TY and columns n0 = IdxX·4·TX; a 1-D group of TX·TY
/// threads; K in tiles of <see cref="BK"/> staged as sa[k][m], sb[k][n]; thread (ty, tx) keeps a 4x4 register micro-tile,
/// rows ty + i·TY and columns tx + j·TX (conflict-free shared reads, coalesced stores). Each tile load puts the index the
/// operand calls fast (<see cref="IGemmOperand{T, TArgs}.ColumnFast"/>) across consecutive threads. Every output sums
/// k ascending from kBegin, starting from zero, so results are bit-identical to a naive k loop and across group shapes.
/// <see cref="BlockIndexed"/> is the core itself, for operands that also read an int view (the sparse convolution's
/// neighbour map, <see cref="SparseTiledKernels"/>); <see cref="Block"/> runs it with plain operands.
/// </summary>
public static class TiledGemm
{
    /// <summary>K depth of a shared tile.</summary>
    public const int BK = 16;
    /// <summary>Register micro-tile side.</summary>
    public const int Micro = 4;
    /// <summary>Largest block tile side (4·16): the entries' shared arrays are sized BK·MaxTile.</summary>
    public const int MaxTile = 64;
    /// <summary>Elements of one shared tile the entries allocate.</summary>
    public const int SharedTile = BK * MaxTile;

    /// <summary>The wide variant (<see cref="BlockWide"/>): 16x16 threads, 8x8 micro-tiles, 128x128 block tiles.</summary>
    public const int WideSide = 16, WideMicro = 8, WideTile = WideSide * WideMicro, WideThreads = WideSide * WideSide;
    /// <summary>Elements of one shared tile the wide entries allocate.</summary>
    public const int SharedTileWide = BK * WideTile;

    public static void Block<T, TE, TArgs, TA, TB, TS>(ArrayView<T> sa, ArrayView<T> sb,
        ArrayView1D<T, Stride1D.Dense> av, ArrayView1D<T, Stride1D.Dense> bv,
        ArrayView1D<T, Stride1D.Dense> dst, ArrayView1D<T, Stride1D.Dense> extra,
        TArgs args, int z, int m, int n, int kBegin, int kEnd, int tx, int ty)
        where T : unmanaged where TE : struct, IElement<T> where TArgs : struct
        where TA : struct, IGemmOperand<T, TArgs> where TB : struct, IGemmOperand<T, TArgs> where TS : struct, IGemmStore<T, TArgs>
        // No index view: the shared A tile stands in for it (never read: the plain operands ignore it).
        => BlockIndexed<T, TE, TArgs, PlainOperand<T, TArgs, TA>, PlainOperand<T, TArgs, TB>, TS>(sa, sb, av, bv, sa.Cast<int>(), dst, extra,
            args, z, m, n, kBegin, kEnd, tx, ty);

    /// <summary>The core over operands that also read an int index view (<paramref name="index"/>: the sparse
    /// convolution's neighbour map); <see cref="Block"/> is this core with operands that ignore it.</summary>
    public static void BlockIndexed<T, TE, TArgs, TA, TB, TS>(ArrayView<T> sa, ArrayView<T> sb,
        ArrayView1D<T, Stride1D.Dense> av, ArrayView1D<T, Stride1D.Dense> bv, ArrayView<int> index,
        ArrayView1D<T, Stride1D.Dense> dst, ArrayView1D<T, Stride1D.Dense> extra,
        TArgs args, int z, int m, int n, int kBegin, int kEnd, int tx, int ty)
        where T : unmanaged where TE : struct, IElement<T> where TArgs : struct
        where TA : struct, IGemmIndexedOperand<T, TArgs> where TB : struct, IGemmIndexedOperand<T, TArgs> where TS : struct, IGemmStore<T, TArgs>
    {
        var e = default(TE);
        var opA = default(TA);
        var opB = default(TB);
        int bm = Micro * ty, bn = Micro * tx, threads = tx * ty;
        int tid = Group.IdxX;
        int col = tid % tx, row = tid / tx;
        int n0 = Grid.IdxX * bn, m0 = Grid.IdxY * bm;
        bool aColFast = opA.ColumnFast(args), bColFast = opB.ColumnFast(args);
        T zero = e.FromDouble(0.0);
        T c00 = zero, c01 = zero, c02 = zero, c03 = zero;
        T c10 = zero, c11 = zero, c12 = zero, c13 = zero;
        T c20 = zero, c21 = zero, c22 = zero, c23 = zero;
        T c30 = zero, c31 = zero, c32 = zero, c33 = zero;
        for (int k0 = kBegin; k0 < kEnd; k0 += BK)
        {
            for (int l = tid; l < BK * bm; l += threads)
            {
                int kk, mm;
                if (aColFast) { kk = l % BK; mm = l / BK; }
                else { mm = l % bm; kk = l / bm; }
                int gk = k0 + kk;
                sa[kk * bm + mm] = gk < kEnd ? opA.Load(av, index, args, z, m0 + mm, gk) : zero;
            }
            for (int l = tid; l < BK * bn; l += threads)
            {
                int kk, nn;
                if (bColFast) { nn = l % bn; kk = l / bn; }
                else { kk = l % BK; nn = l / BK; }
                int gk = k0 + kk;
                sb[kk * bn + nn] = gk < kEnd ? opB.Load(bv, index, args, z, gk, n0 + nn) : zero;
            }
            Group.Barrier();
            int depth = kEnd - k0 < BK ? kEnd - k0 : BK;           // the zero padding would add exact zeros; skip it
            for (int kk = 0; kk < depth; kk++)
            {
                int ra = kk * bm + row, rb = kk * bn + col;
                T a0 = sa[ra], a1 = sa[ra + ty], a2 = sa[ra + 2 * ty], a3 = sa[ra + 3 * ty];
                T b0 = sb[rb], b1 = sb[rb + tx], b2 = sb[rb + 2 * tx], b3 = sb[rb + 3 * tx];
                c00 = e.Add(c00, e.Mul(a0, b0)); c01 = e.Add(c01, e.Mul(a0, b1)); c02 = e.Add(c02, e.Mul(a0, b2)); c03 = e.Add(c03, e.Mul(a0, b3));
                c10 = e.Add(c10, e.Mul(a1, b0)); c11 = e.Add(c11, e.Mul(a1, b1)); c12 = e.Add(c12, e.Mul(a1, b2)); c13 = e.Add(c13, e.Mul(a1, b3));
                c20 = e.Add(c20, e.Mul(a2, b0)); c21 = e.Add(c21, e.Mul(a2, b1)); c22 = e.Add(c22, e.Mul(a2, b2)); c23 = e.Add(c23, e.Mul(a2, b3));
                c30 = e.Add(c30, e.Mul(a3, b0)); c31 = e.Add(c31, e.Mul(a3, b1)); c32 = e.Add(c32, e.Mul(a3, b2)); c33 = e.Add(c33, e.Mul(a3, b3));
            }
            Group.Barrier();
        }
        int mA = m0 + row, nA = n0 + col;
        StoreRow<T, TArgs, TS>(dst, extra, args, z, m, n, mA, nA, tx, c00, c01, c02, c03);
        StoreRow<T, TArgs, TS>(dst, extra, args, z, m, n, mA + ty, nA, tx, c10, c11, c12, c13);
        StoreRow<T, TArgs, TS>(dst, extra, args, z, m, n, mA + 2 * ty, nA, tx, c20, c21, c22, c23);
        StoreRow<T, TArgs, TS>(dst, extra, args, z, m, n, mA + 3 * ty, nA, tx, c30, c31, c32, c33);
    }

    /// <summary>
    /// <see cref="Block"/> on 128x128 block tiles of 256 threads (16x16), each keeping an 8x8 micro-tile (rows ty + 16·i,
    /// columns tx + 16·j) in eight <see cref="Row8{T}"/> structs of scalar fields (ILGPU keeps them in registers): four
    /// times the multiply-adds per shared-memory read of the 4x4 tile. Same loaders, stores and staging; every output still
    /// sums k ascending from kBegin, so the result is bit-identical to <see cref="Block"/>.
    /// </summary>
    public static void BlockWide<T, TE, TArgs, TA, TB, TS>(ArrayView<T> sa, ArrayView<T> sb,
        ArrayView1D<T, Stride1D.Dense> av, ArrayView1D<T, Stride1D.Dense> bv,
        ArrayView1D<T, Stride1D.Dense> dst, ArrayView1D<T, Stride1D.Dense> extra,
        TArgs args, int z, int m, int n, int kBegin, int kEnd)
        where T : unmanaged where TE : struct, IElement<T> where TArgs : struct
        where TA : struct, IGemmOperand<T, TArgs> where TB : struct, IGemmOperand<T, TArgs> where TS : struct, IGemmStore<T, TArgs>
    {
        const int S = WideSide, Tile = WideTile;
        var opA = default(TA);
        var opB = default(TB);
        int tid = Group.IdxX, col = tid % S, row = tid / S;
        int n0 = Grid.IdxX * Tile, m0 = Grid.IdxY * Tile;
        bool aColFast = opA.ColumnFast(args), bColFast = opB.ColumnFast(args);
        T zero = default(TE).FromDouble(0.0);
        var r0 = Row8<T>.Of(zero); var r1 = r0; var r2 = r0; var r3 = r0; var r4 = r0; var r5 = r0; var r6 = r0; var r7 = r0;
        for (int k0 = kBegin; k0 < kEnd; k0 += BK)
        {
            for (int l = tid; l < BK * Tile; l += WideThreads)
            {
                int kk, mm;
                if (aColFast) { kk = l % BK; mm = l / BK; }
                else { mm = l % Tile; kk = l / Tile; }
                int gk = k0 + kk;
                sa[kk * Tile + mm] = gk < kEnd ? opA.Load(av, args, z, m0 + mm, gk) : zero;
            }
            for (int l = tid; l < BK * Tile; l += WideThreads)
            {
                int kk, nn;
                if (bColFast) { nn = l % Tile; kk = l / Tile; }
                else { kk = l % BK; nn = l / BK; }
                int gk = k0 + kk;
                sb[kk * Tile + nn] = gk < kEnd ? opB.Load(bv, args, z, gk, n0 + nn) : zero;
            }
            Group.Barrier();
            int depth = kEnd - k0 < BK ? kEnd - k0 : BK;
            for (int kk = 0; kk < depth; kk++)
            {
                int ra = kk * Tile + row, rb = kk * Tile + col;
                var b = new Row8<T>(sb[rb], sb[rb + S], sb[rb + 2 * S], sb[rb + 3 * S], sb[rb + 4 * S], sb[rb + 5 * S], sb[rb + 6 * S], sb[rb + 7 * S]);
                r0 = r0.Fma<TE>(sa[ra], b); r1 = r1.Fma<TE>(sa[ra + S], b);
                r2 = r2.Fma<TE>(sa[ra + 2 * S], b); r3 = r3.Fma<TE>(sa[ra + 3 * S], b);
                r4 = r4.Fma<TE>(sa[ra + 4 * S], b); r5 = r5.Fma<TE>(sa[ra + 5 * S], b);
                r6 = r6.Fma<TE>(sa[ra + 6 * S], b); r7 = r7.Fma<TE>(sa[ra + 7 * S], b);
            }
            Group.Barrier();
        }
        int mA = m0 + row, nA = n0 + col;
        StoreRow8<T, TArgs, TS>(dst, extra, args, z, m, n, mA, nA, r0);
        StoreRow8<T, TArgs, TS>(dst, extra, args, z, m, n, mA + S, nA, r1);
        StoreRow8<T, TArgs, TS>(dst, extra, args, z, m, n, mA + 2 * S, nA, r2);
        StoreRow8<T, TArgs, TS>(dst, extra, args, z, m, n, mA + 3 * S, nA, r3);
        StoreRow8<T, TArgs, TS>(dst, extra, args, z, m, n, mA + 4 * S, nA, r4);
        StoreRow8<T, TArgs, TS>(dst, extra, args, z, m, n, mA + 5 * S, nA, r5);
        StoreRow8<T, TArgs, TS>(dst, extra, args, z, m, n, mA + 6 * S, nA, r6);
        StoreRow8<T, TArgs, TS>(dst, extra, args, z, m, n, mA + 7 * S, nA, r7);
    }

    private static void StoreRow8<T, TArgs, TS>(ArrayView1D<T, Stride1D.Dense> dst, ArrayView1D<T, Stride1D.Dense> extra, TArgs args,
        int z, int m, int n, int r, int c, Row8<T> v)
        where T : unmanaged where TArgs : struct where TS : struct, IGemmStore<T, TArgs>
    {
        StoreRow<T, TArgs, TS>(dst, extra, args, z, m, n, r, c, 2 * WideSide, v.X0, v.X2, v.X4, v.X6);
        StoreRow<T, TArgs, TS>(dst, extra, args, z, m, n, r, c + WideSide, 2 * WideSide, v.X1, v.X3, v.X5, v.X7);
    }

    private static void StoreRow<T, TArgs, TS>(ArrayView1D<T, Stride1D.Dense> dst, ArrayView1D<T, Stride1D.Dense> extra, TArgs args,
        int z, int m, int n, int r, int c, int tx, T v0, T v1, T v2, T v3)
        where T : unmanaged where TArgs : struct where TS : struct, IGemmStore<T, TArgs>
    {
        if (r >= m) return;
        var s = default(TS);
        if (c < n) s.Store(dst, extra, args, z, r, c, v0);
        if (c + tx < n) s.Store(dst, extra, args, z, r, c + tx, v1);
        if (c + 2 * tx < n) s.Store(dst, extra, args, z, r, c + 2 * tx, v2);
        if (c + 3 * tx < n) s.Store(dst, extra, args, z, r, c + 3 * tx, v3);
    }
}

/// <summary>Eight accumulators (or operands) of one micro-tile row of <see cref="TiledGemm.BlockWide"/>, as scalar
/// fields: ILGPU keeps a struct of scalars in registers, where an array would live in local memory.</summary>
public struct Row8<T> where T : unmanaged
{
    public T X0, X1, X2, X3, X4, X5, X6, X7;

    public Row8(T x0, T x1, T x2, T x3, T x4, T x5, T x6, T x7) => (X0, X1, X2, X3, X4, X5, X6, X7) = (x0, x1, x2, x3, x4, x5, x6, x7);

    public static Row8<T> Of(T v) => new(v, v, v, v, v, v, v, v);

    /// <summary>this + a·b element by element (a multiply then an add, as <see cref="TiledGemm.Block"/> does).</summary>
    public readonly Row8<T> Fma<TE>(T a, Row8<T> b) where TE : struct, IElement<T>
    {
        var e = default(TE);
        return new(e.Add(X0, e.Mul(a, b.X0)), e.Add(X1, e.Mul(a, b.X1)), e.Add(X2, e.Mul(a, b.X2)), e.Add(X3, e.Mul(a, b.X3)),
            e.Add(X4, e.Mul(a, b.X4)), e.Add(X5, e.Mul(a, b.X5)), e.Add(X6, e.Mul(a, b.X6)), e.Add(X7, e.Mul(a, b.X7)));
    }
}
