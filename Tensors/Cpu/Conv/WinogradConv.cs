using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Sparkle.Tensors.Cpu.Elementwise;
using Sparkle.Tensors.Cpu.Gemm;

namespace Sparkle.Tensors.Cpu.Conv;

/// <summary>
/// 3x3 stride-1 convolution by Winograd's minimal filtering F(2x2, 3x3) (Lavin and Gray 2016; oneDNN and cuDNN
/// offer the same algorithm): each 2x2 output tile is Aᵀ [Σ_c (Bᵀ d_c B) ⊙ (G g_co Gᵀ)] A over its 4x4 input window
/// d, so the 36 multiply-adds per output channel pair and tile become 16 — the work moves into 16 GEMMs
/// M_ξ (tiles x O) = V_ξ (tiles x C) · U_ξ (C x O), one per element ξ of the 4x4 transformed tile, which run on
/// <see cref="Blas.Gemm{T}"/> at its speed (2.25x fewer FLOPs than the direct kernels at a similar FLOP rate when C and
/// O are large: the SparK decoder, ResNet's 3x3 stages). Measured (docs/conv.md) its GEMMs run at about half the FMA
/// peak while the direct kernels run at 70-97 %, so it is not faster yet and runs only when asked
/// (<see cref="CpuKernelOptions.ConvWinograd"/>).
/// <list type="bullet">
/// <item>forward: V from x, U from W, y = output transform of M (+ bias);</item>
/// <item>input gradient: the same with dy as input and the flipped, transposed weights (stride 1: dx is the
/// convolution of dy with W[o, c, 2−kh, 2−kw] at padding 2 − P);</item>
/// <item>weight gradient: dU_ξ (C x O) = Σ_tiles V_ξᵀ · dM_ξ with dM = A dy Aᵀ (the adjoint of the output transform),
/// then dW = Gᵀ dU G.</item>
/// </list>
/// The batch's tiles are cut into equal chunks (<see cref="TilesPerChunk"/>: ~<see cref="ChunkBudgetBytes"/>, at least
/// <see cref="MinTilesPerChunk"/> tiles); per chunk the transforms run over the pool by ranges of tiles, each element
/// written by one item, and the 16 GEMMs run in parallel, each on one thread, so results do not depend on the thread
/// count. The transforms' constants are 0, ±1 and ±½: float64 stays at rounding level, float32 within a few ulps of the
/// sums' magnitude (tests: 1e-12 / 3e-5).
/// </summary>
internal static class WinogradConv<T, TV, TS> where T : unmanaged, INumber<T> where TV : struct where TS : ISimdOps<T, TV>
{
    /// <summary>Transformed input (or output) of one chunk: 2 MB (with <see cref="MinTilesPerChunk"/>).</summary>
    public const long ChunkBudgetBytes = 2L << 20;

    public static void Forward(Act<T> x, WeightView<T> w, Vec<T>? bias, Act<T> y, ConvGeometry g, CpuKernelOptions o)
    {
        var u = TransformWeights(w, g.C, g.O, flipped: false, out int us);
        Run(x, g.N, g.C, g.H, g.W, g.PH, g.PW, y, g.O, g.OH, g.OW, new StridedMatrix<T>(u, us, g.O, 1), bias, o);
    }

    public static void BackwardInput(Act<T> dy, WeightView<T> w, Act<T> dx, ConvGeometry g, CpuKernelOptions o)
    {
        var u = TransformWeights(w, g.O, g.C, flipped: true, out int us);
        Run(dy, g.N, g.O, g.OH, g.OW, 2 - g.PH, 2 - g.PW, dx, g.C, g.H, g.W, new StridedMatrix<T>(u, us, g.C, 1), null, o);
    }

    public static void BackwardWeight(Act<T> dy, Act<T> x, Act<T> dw, ConvGeometry g, CpuKernelOptions o)
    {
        int c = g.C, oc = g.O;
        var tiling = new Tiling(g.N, g.OH, g.OW);
        int per = TilesPerChunk(tiling.Count, Math.Max(c, oc), o.ConvBatchedChunkBytes);
        var v = ConvBuffers<T>.Col.GetArray(16 * per * c, out int vs);
        var dm = ConvBuffers<T>.Mat.GetArray(16 * per * oc, out int ms);
        var du = ConvBuffers<T>.Weights.GetArray(16 * c * oc, out int us);
        for (int t0 = 0; t0 < tiling.Count; t0 += per)
        {
            int tiles = Math.Min(per, tiling.Count - t0), first = t0;
            IntraOpPool.ForRange(tiles, TileGrain, (a, b) =>
            {
                InputTiles(x, c, g.H, g.W, g.PH, g.PW, tiling, first + a, first + b, v, vs, tiles, a);
                OutputGradientTiles(dy, oc, tiling, first + a, first + b, dm, ms, tiles, a);
            });
            // dU_ξ[c, o] (+)= Σ_t V_ξ[t, c] · dM_ξ[t, o]: one GEMM per ξ, each on one thread.
            bool accumulate = t0 > 0;
            IntraOpPool.For(16, xi => Blas.Gemm(c, oc, tiles,
                new StridedMatrix<T>(v, vs + xi * tiles * c, 1, c), new StridedMatrix<T>(dm, ms + xi * tiles * oc, oc, 1),
                du, us + xi * c * oc, oc, accumulate, o.GemmKernel, serial: true));
        }
        IntraOpPool.ForRange(oc, 8, (o0, o1) =>
        {
            for (int j = o0; j < o1; j++)
                for (int i = 0; i < c; i++) WeightGradientTaps(du, us + i * oc + j, c * oc, dw, j, i);
        });
    }

    /// <summary>Tiles per work item of the transforms.</summary>
    private const int TileGrain = 8;

    /// <summary>At least this many tiles per chunk: the GEMMs' m (and the reuse of each packed U panel).</summary>
    internal const int MinTilesPerChunk = 512;

    /// <summary>The 2x2 output tiles of a batch, numbered image by image, row by row.</summary>
    private readonly record struct Tiling(int N, int OH, int OW)
    {
        public int Rows => (OH + 1) / 2;
        public int Cols => (OW + 1) / 2;
        public int Count => N * Rows * Cols;
        /// <summary>Image, tile row and tile column of tile t.</summary>
        public (int N, int R, int J) Of(int t)
        {
            int perImage = Rows * Cols, n = t / perImage, rest = t - n * perImage;
            return (n, rest / Cols, rest % Cols);
        }
    }

    /// <summary>Tiles per chunk: the fewest equal chunks whose 16 transformed planes fit the budget (L2/L3-sized, so
    /// a chunk's V and M stay in cache between the transforms and the GEMMs), with at least
    /// <see cref="MinTilesPerChunk"/> tiles; <paramref name="chunkBytes"/> (<see cref="CpuKernelOptions.ConvBatchedChunkBytes"/>)
    /// replaces the budget (and the minimum) when positive.</summary>
    internal static int TilesPerChunk(int tiles, int channels, long chunkBytes)
    {
        long perTile = 16L * channels * Unsafe.SizeOf<T>();
        long max = chunkBytes > 0 ? Math.Max(1, chunkBytes / perTile) : Math.Max(MinTilesPerChunk, ChunkBudgetBytes / perTile);
        int chunks = (int)((tiles + max - 1) / max);
        return (tiles + chunks - 1) / chunks;
    }

    /// <summary>The convolution of <paramref name="x"/> (N, cin, h, w; padding ph, pw) into <paramref name="y"/>
    /// (N, cout, oh, ow) with the transformed weights: <paramref name="u"/> is U_0 as a cin x cout matrix, U_ξ lies
    /// ξ·cin·cout further on.</summary>
    private static void Run(Act<T> x, int n, int cin, int h, int w, int ph, int pw, Act<T> y, int cout, int oh, int ow,
        StridedMatrix<T> u, Vec<T>? bias, CpuKernelOptions o)
    {
        var tiling = new Tiling(n, oh, ow);
        int per = TilesPerChunk(tiling.Count, Math.Max(cin, cout), o.ConvBatchedChunkBytes);
        var v = ConvBuffers<T>.Col.GetArray(16 * per * cin, out int vs);
        var m = ConvBuffers<T>.Mat.GetArray(16 * per * cout, out int ms);
        for (int t0 = 0; t0 < tiling.Count; t0 += per)
        {
            int tiles = Math.Min(per, tiling.Count - t0), first = t0;
            IntraOpPool.ForRange(tiles, TileGrain, (a, b) => InputTiles(x, cin, h, w, ph, pw, tiling, first + a, first + b, v, vs, tiles, a));
            IntraOpPool.For(16, xi => Blas.Gemm(tiles, cout, cin,
                new StridedMatrix<T>(v, vs + xi * tiles * cin, cin, 1), u with { Offset = u.Offset + xi * cin * cout },
                m, ms + xi * tiles * cout, cout, accumulate: false, o.GemmKernel, serial: true));
            IntraOpPool.ForRange(tiles, TileGrain, (a, b) => OutputTiles(m, ms, tiles, a, y, cout, tiling, first + a, first + b, bias));
        }
    }

    // ---- transforms ----

    /// <summary>Tiles [ta, tb) (tile t = image n, row r, column j) into V[ξ][local0 + t − ta][c] = (Bᵀ d B)[ξ] for the
    /// 4x4 window d at (2r − ph, 2j − pw), zero outside the image. Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1].</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void InputTiles(Act<T> x, int cin, int h, int w, int ph, int pw, Tiling tiling, int ta, int tb, T[] v, int vs, int tiles, int local0)
    {
        Span<int> rows = stackalloc int[4];
        int lanes = x.SC == 1 ? TS.Count : int.MaxValue;
        ref T xs = ref MemoryMarshal.GetArrayDataReference(x.Data);
        ref T vd = ref MemoryMarshal.GetArrayDataReference(v);
        nint plane = (nint)tiles * cin;
        Tile16 tile = default;
        Span<TV> d = tile;
        Span<T> ds = stackalloc T[16];
        for (int t = ta; t < tb; t++)
        {
            var (n, r, j) = tiling.Of(t);
            for (int a = 0; a < 4; a++) { int ih = 2 * r - ph + a; rows[a] = (uint)ih < (uint)h ? ih : -1; }
            int w0 = 2 * j - pw;
            ref T dst = ref Unsafe.Add(ref vd, vs + (nint)(local0 + t - ta) * cin);
            int c = 0;
            for (; c + lanes <= cin; c += lanes)
            {
                for (int a = 0; a < 4; a++)
                    for (int b = 0; b < 4; b++)
                    {
                        int iw = w0 + b;
                        d[a * 4 + b] = rows[a] >= 0 && (uint)iw < (uint)w
                            ? TS.Load(ref xs, (nuint)x.Index(n, c, rows[a], iw)) : default;
                    }
                InputTransform(d);
                for (int xi = 0; xi < 16; xi++) TS.Store(d[xi], ref Unsafe.Add(ref dst, xi * plane + c));
            }
            for (; c < cin; c++)
            {
                for (int a = 0; a < 4; a++)
                    for (int b = 0; b < 4; b++)
                    {
                        int iw = w0 + b;
                        ds[a * 4 + b] = rows[a] >= 0 && (uint)iw < (uint)w ? x.Data[x.Index(n, c, rows[a], iw)] : T.Zero;
                    }
                InputTransform(ds);
                for (int xi = 0; xi < 16; xi++) Unsafe.Add(ref dst, xi * plane + c) = ds[xi];
            }
        }
    }

    /// <summary>Tiles [ta, tb) from M[ξ][local0 + t − ta][o]: y tile = Aᵀ M A (+ bias), A ᵀ = [1 1 1 0; 0 1 −1 −1]; the parts of
    /// edge tiles outside the output are not stored.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void OutputTiles(T[] m, int ms, int tiles, int local0, Act<T> y, int cout, Tiling tiling, int ta, int tb, Vec<T>? bias)
    {
        int lanes = y.SC == 1 && (bias is null || bias.Value.Stride == 1) ? TS.Count : int.MaxValue;
        ref T ys = ref MemoryMarshal.GetArrayDataReference(y.Data);
        ref T md = ref MemoryMarshal.GetArrayDataReference(m);
        nint plane = (nint)tiles * cout;
        Tile16 tile = default;
        Span<TV> s = tile;
        Span<T> ss = stackalloc T[16];
        for (int t = ta; t < tb; t++)
        {
            var (n, r, j) = tiling.Of(t);
            int rows = Math.Min(2, tiling.OH - 2 * r), cols = Math.Min(2, tiling.OW - 2 * j);
            ref T src = ref Unsafe.Add(ref md, ms + (nint)(local0 + t - ta) * cout);
            int c = 0;
            for (; c + lanes <= cout; c += lanes)
            {
                for (int xi = 0; xi < 16; xi++) s[xi] = TS.Load(ref Unsafe.Add(ref src, xi * plane + c));
                OutputTransform(s);
                TV bv = bias is { } bb ? TS.Load(ref bb.Data[bb.Offset + c]) : default;
                for (int a = 0; a < rows; a++)
                    for (int b = 0; b < cols; b++)
                    {
                        var value = bias is null ? s[a * 2 + b] : TS.Add(s[a * 2 + b], bv);
                        TS.Store(value, ref ys, (nuint)y.Index(n, c, 2 * r + a, 2 * j + b));
                    }
            }
            for (; c < cout; c++)
            {
                for (int xi = 0; xi < 16; xi++) ss[xi] = Unsafe.Add(ref src, xi * plane + c);
                OutputTransform(ss);
                for (int a = 0; a < rows; a++)
                    for (int b = 0; b < cols; b++)
                        y.Data[y.Index(n, c, 2 * r + a, 2 * j + b)] = bias is { } bb ? ss[a * 2 + b] + bb[c] : ss[a * 2 + b];
            }
        }
    }

    /// <summary>Tiles [ta, tb): dM[ξ][local0 + t − ta][o] = (A dy Aᵀ)[ξ] for the 2x2 dy tile (zero outside the output), the
    /// adjoint of <see cref="OutputTiles"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void OutputGradientTiles(Act<T> dy, int cout, Tiling tiling, int ta, int tb, T[] dm, int ms, int tiles, int local0)
    {
        int lanes = dy.SC == 1 ? TS.Count : int.MaxValue;
        ref T ys = ref MemoryMarshal.GetArrayDataReference(dy.Data);
        ref T dd = ref MemoryMarshal.GetArrayDataReference(dm);
        nint plane = (nint)tiles * cout;
        Tile16 tile = default;
        Span<TV> s = tile;
        Span<T> ss = stackalloc T[16];
        for (int t = ta; t < tb; t++)
        {
            var (n, r, j) = tiling.Of(t);
            int rows = Math.Min(2, tiling.OH - 2 * r), cols = Math.Min(2, tiling.OW - 2 * j);
            ref T dst = ref Unsafe.Add(ref dd, ms + (nint)(local0 + t - ta) * cout);
            int c = 0;
            for (; c + lanes <= cout; c += lanes)
            {
                for (int a = 0; a < 2; a++)
                    for (int b = 0; b < 2; b++)
                        s[a * 2 + b] = a < rows && b < cols ? TS.Load(ref ys, (nuint)dy.Index(n, c, 2 * r + a, 2 * j + b)) : default;
                OutputTransformAdjoint(s);
                for (int xi = 0; xi < 16; xi++) TS.Store(s[xi], ref Unsafe.Add(ref dst, xi * plane + c));
            }
            for (; c < cout; c++)
            {
                for (int a = 0; a < 2; a++)
                    for (int b = 0; b < 2; b++)
                        ss[a * 2 + b] = a < rows && b < cols ? dy.Data[dy.Index(n, c, 2 * r + a, 2 * j + b)] : T.Zero;
                OutputTransformAdjoint(ss);
                for (int xi = 0; xi < 16; xi++) Unsafe.Add(ref dst, xi * plane + c) = ss[xi];
            }
        }
    }

    /// <summary>U[ξ][i][j] = (G g Gᵀ)[ξ] of the 3x3 filter from input channel i to output channel j of the run:
    /// W[j, i] (forward) or W[i, j] rotated by 180° (input gradient: the run's input channels are W's outputs).
    /// G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1].</summary>
    private static T[] TransformWeights(WeightView<T> wv, int cin, int cout, bool flipped, out int us)
    {
        var u = ConvBuffers<T>.Weights.GetArray(16 * cin * cout, out us);
        int start = us;
        IntraOpPool.ForRange(cin, 8, (i0, i1) =>
        {
            Span<T> g = stackalloc T[9];
            Span<T> t = stackalloc T[16];
            Span<T> gg = stackalloc T[12];
            var half = T.One / (T.One + T.One);
            for (int i = i0; i < i1; i++)
                for (int j = 0; j < cout; j++)
                {
                    for (int k = 0; k < 9; k++) g[k] = flipped ? wv.At(i, j, 8 - k) : wv.At(j, i, k);
                    // G g: rows a of 4 x 3, then (G g) Gᵀ: 4 x 4.
                    for (int b = 0; b < 3; b++)
                    {
                        T g0 = g[b], g1 = g[3 + b], g2 = g[6 + b];
                        gg[b] = g0; gg[3 + b] = half * (g0 + g1 + g2); gg[6 + b] = half * (g0 - g1 + g2); gg[9 + b] = g2;
                    }
                    for (int a = 0; a < 4; a++)
                    {
                        T h0 = gg[a * 3], h1 = gg[a * 3 + 1], h2 = gg[a * 3 + 2];
                        t[a * 4] = h0; t[a * 4 + 1] = half * (h0 + h1 + h2); t[a * 4 + 2] = half * (h0 - h1 + h2); t[a * 4 + 3] = h2;
                    }
                    for (int xi = 0; xi < 16; xi++) u[start + xi * cin * cout + i * cout + j] = t[xi];
                }
        });
        return u;
    }

    /// <summary>dW[o, c] = Gᵀ dU G from dU[ξ] at du[at + ξ·stride] (Gᵀ = [1 ½ ½ 0; 0 ½ −½ 0; 0 ½ ½ 1]).</summary>
    private static void WeightGradientTaps(T[] du, int at, int stride, Act<T> dw, int o, int c)
    {
        var half = T.One / (T.One + T.One);
        Span<T> t = stackalloc T[12];
        for (int b = 0; b < 4; b++)
        {
            T u0 = du[at + b * stride], u1 = du[at + (4 + b) * stride], u2 = du[at + (8 + b) * stride], u3 = du[at + (12 + b) * stride];
            t[b] = u0 + half * (u1 + u2); t[4 + b] = half * (u1 - u2); t[8 + b] = half * (u1 + u2) + u3;
        }
        for (int a = 0; a < 3; a++)
        {
            T v0 = t[a * 4], v1 = t[a * 4 + 1], v2 = t[a * 4 + 2], v3 = t[a * 4 + 3];
            int row = dw.Offset + o * dw.SN + c * dw.SC + a * dw.SH;
            dw.Data[row] = v0 + half * (v1 + v2);
            dw.Data[row + dw.SW] = half * (v1 - v2);
            dw.Data[row + 2 * dw.SW] = half * (v1 + v2) + v3;
        }
    }

    /// <summary>16 vectors on the stack (TV is not known to be unmanaged, so no stackalloc).</summary>
    [InlineArray(16)]
    private struct Tile16
    {
        private TV _element;
    }

    // Bᵀ d B, Aᵀ m A and A m Aᵀ on 4x4 (or 2x2 in, 4x4 out) tiles stored row-major, for vectors and scalars alike.

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void InputTransform(Span<TV> d)
    {
        for (int b = 0; b < 4; b++)
        {
            TV d0 = d[b], d1 = d[4 + b], d2 = d[8 + b], d3 = d[12 + b];
            d[b] = TS.Sub(d0, d2); d[4 + b] = TS.Add(d1, d2); d[8 + b] = TS.Sub(d2, d1); d[12 + b] = TS.Sub(d1, d3);
        }
        for (int a = 0; a < 16; a += 4)
        {
            TV d0 = d[a], d1 = d[a + 1], d2 = d[a + 2], d3 = d[a + 3];
            d[a] = TS.Sub(d0, d2); d[a + 1] = TS.Add(d1, d2); d[a + 2] = TS.Sub(d2, d1); d[a + 3] = TS.Sub(d1, d3);
        }
    }

    private static void InputTransform(Span<T> d)
    {
        for (int b = 0; b < 4; b++)
        {
            T d0 = d[b], d1 = d[4 + b], d2 = d[8 + b], d3 = d[12 + b];
            d[b] = d0 - d2; d[4 + b] = d1 + d2; d[8 + b] = d2 - d1; d[12 + b] = d1 - d3;
        }
        for (int a = 0; a < 16; a += 4)
        {
            T d0 = d[a], d1 = d[a + 1], d2 = d[a + 2], d3 = d[a + 3];
            d[a] = d0 - d2; d[a + 1] = d1 + d2; d[a + 2] = d2 - d1; d[a + 3] = d1 - d3;
        }
    }

    /// <summary>The 2x2 result goes to s[0..4) row-major.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void OutputTransform(Span<TV> s)
    {
        Tile16 tile = default;
        Span<TV> t = tile;
        for (int b = 0; b < 4; b++)
        {
            TV m0 = s[b], m1 = s[4 + b], m2 = s[8 + b], m3 = s[12 + b];
            t[b] = TS.Add(TS.Add(m0, m1), m2); t[4 + b] = TS.Sub(TS.Sub(m1, m2), m3);
        }
        for (int a = 0; a < 2; a++)
        {
            TV m0 = t[a * 4], m1 = t[a * 4 + 1], m2 = t[a * 4 + 2], m3 = t[a * 4 + 3];
            s[a * 2] = TS.Add(TS.Add(m0, m1), m2); s[a * 2 + 1] = TS.Sub(TS.Sub(m1, m2), m3);
        }
    }

    private static void OutputTransform(Span<T> s)
    {
        Span<T> t = stackalloc T[8];
        for (int b = 0; b < 4; b++)
        {
            T m0 = s[b], m1 = s[4 + b], m2 = s[8 + b], m3 = s[12 + b];
            t[b] = m0 + m1 + m2; t[4 + b] = m1 - m2 - m3;
        }
        for (int a = 0; a < 2; a++)
        {
            T m0 = t[a * 4], m1 = t[a * 4 + 1], m2 = t[a * 4 + 2], m3 = t[a * 4 + 3];
            s[a * 2] = m0 + m1 + m2; s[a * 2 + 1] = m1 - m2 - m3;
        }
    }

    /// <summary>From the 2x2 tile in s[0..4) (row-major) to the 4x4 A g Aᵀ in s, A = [1 0; 1 1; 1 −1; 0 −1].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void OutputTransformAdjoint(Span<TV> s)
    {
        TV a0 = s[0], a1 = s[1], b0 = s[2], b1 = s[3];
        // Rows: A · tile (4 x 2).
        TV r00 = a0, r01 = a1, r10 = TS.Add(a0, b0), r11 = TS.Add(a1, b1), r20 = TS.Sub(a0, b0), r21 = TS.Sub(a1, b1);
        TV zero = default;
        TV r30 = TS.Sub(zero, b0), r31 = TS.Sub(zero, b1);
        Row(s, 0, r00, r01); Row(s, 4, r10, r11); Row(s, 8, r20, r21); Row(s, 12, r30, r31);

        static void Row(Span<TV> s, int at, TV p, TV q)
        {
            s[at] = p; s[at + 1] = TS.Add(p, q); s[at + 2] = TS.Sub(p, q); s[at + 3] = TS.Sub(default, q);
        }
    }

    private static void OutputTransformAdjoint(Span<T> s)
    {
        T a0 = s[0], a1 = s[1], b0 = s[2], b1 = s[3];
        Row(s, 0, a0, a1); Row(s, 4, a0 + b0, a1 + b1); Row(s, 8, a0 - b0, a1 - b1); Row(s, 12, -b0, -b1);

        static void Row(Span<T> s, int at, T p, T q)
        {
            s[at] = p; s[at + 1] = p + q; s[at + 2] = p - q; s[at + 3] = -q;
        }
    }
}
