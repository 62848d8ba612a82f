using ILGPU;
using ILGPU.Runtime;

namespace Sparkle.Gpu.Kernels;

/// <summary>
/// One operand of a tiled GEMM C[z][m, n] = Σ_k A[z][m, k] · B[z][k, n] as the tile loader reads it: element (row, col)
/// of the logical matrix number <c>z</c> (the batch of a matmul, the group of a convolution), computed from the
/// kernel's view and argument struct. 0 outside the matrix and in a convolution's padding, so tiles need no other edge
/// handling. Implementations are empty structs passed as type parameters (like <see cref="IElement{T}"/>): ILGPU
/// specialises and inlines them, so one GEMM core serves the matmul and every implicit-GEMM convolution pass, with the
/// im2col index computed here instead of in a column buffer.
/// </summary>
public interface IGemmOperand<T, TArgs> where T : unmanaged where TArgs : struct
{
    T Load(ArrayView1D<T, Stride1D.Dense> v, TArgs a, int z, int row, int col);

    /// <summary>True when consecutive columns are (mostly) consecutive addresses: the loader then puts the column
    /// across consecutive threads, else the row (coalesced loads either way).</summary>
    bool ColumnFast(TArgs a);
}

/// <summary>An operand that also reads an int index view (the sparse convolution's neighbour map), for the
/// <see cref="TiledGemm"/> core's indexed entry; <see cref="PlainOperand{T, TArgs, TOp}"/> lifts an
/// <see cref="IGemmOperand{T, TArgs}"/> to it.</summary>
public interface IGemmIndexedOperand<T, TArgs> where T : unmanaged where TArgs : struct
{
    T Load(ArrayView1D<T, Stride1D.Dense> v, ArrayView<int> index, TArgs a, int z, int row, int col);

    /// <inheritdoc cref="IGemmOperand{T, TArgs}.ColumnFast"/>
    bool ColumnFast(TArgs a);
}

/// <summary>An <see cref="IGemmOperand{T, TArgs}"/> as an <see cref="IGemmIndexedOperand{T, TArgs}"/> that ignores the index.</summary>
public struct PlainOperand<T, TArgs, TOp> : IGemmIndexedOperand<T, TArgs>
    where T : unmanaged where TArgs : struct where TOp : struct, IGemmOperand<T, TArgs>
{
    public readonly T Load(ArrayView1D<T, Stride1D.Dense> v, ArrayView<int> index, TArgs a, int z, int row, int col) =>
        default(TOp).Load(v, a, z, row, col);
    public readonly bool ColumnFast(TArgs a) => default(TOp).ColumnFast(a);
}

/// <summary>Writes one finished element C[z][row, col] (row &lt; M and col &lt; N are checked by the caller): adds a
/// bias, accumulates, or writes a split-K partial, as the pass needs.</summary>
public interface IGemmStore<T, TArgs> where T : unmanaged where TArgs : struct
{
    void Store(ArrayView1D<T, Stride1D.Dense> dst, ArrayView1D<T, Stride1D.Dense> extra, TArgs a, int z, int row, int col, T value);
}

/// <summary>A of a matmul: a[z][m, k] through <see cref="MatMulArgs"/> strides (batch stride 0 broadcasts).</summary>
public struct MatMulA<T> : IGemmOperand<T, MatMulArgs> where T : unmanaged
{
    public readonly T Load(ArrayView1D<T, Stride1D.Dense> v, MatMulArgs p, int z, int row, int col) =>
        row < p.M && col < p.K ? v[p.AOff + z * p.SaB + row * p.SaM + col * p.SaK] : default;
    public readonly bool ColumnFast(MatMulArgs p) => p.SaK == 1;
}

/// <summary>B of a matmul: b[z][k, n] through <see cref="MatMulArgs"/> strides.</summary>
public struct MatMulB<T> : IGemmOperand<T, MatMulArgs> where T : unmanaged
{
    public readonly T Load(ArrayView1D<T, Stride1D.Dense> v, MatMulArgs p, int z, int row, int col) =>
        row < p.K && col < p.N ? v[p.BOff + z * p.SbB + row * p.SbK + col * p.SbN] : default;
    public readonly bool ColumnFast(MatMulArgs p) => p.SbK != 1;
}

/// <summary>A of the convolution forward: W_g[m, k] = w[g·Og + m, c, ky, kx] with k = (c, ky, kx), KW fastest
/// (M = O/groups, K = C/groups·KH·KW).</summary>
public struct ConvWeightA<T> : IGemmOperand<T, ConvArgs> where T : unmanaged
{
    public readonly T Load(ArrayView1D<T, Stride1D.Dense> w, ConvArgs a, int g, int m, int k)
    {
        int khw = a.KH * a.KW;
        if (m >= a.Og || k >= a.Cg * khw) return default;
        int c = k / khw, r = k - c * khw;
        int ky = r / a.KW, kx = r - ky * a.KW;
        return w[a.WOff + (g * a.Og + m) * a.WsO + c * a.WsC + ky * a.WsH + kx * a.WsW];
    }
    public readonly bool ColumnFast(ConvArgs a) => true;
}

/// <summary>B of the convolution forward: im2col(X_g)[k, p] = x[n, g·Cg + c, oh·SH − PH + ky·DH, ow·SW − PW + kx·DW]
/// with k = (c, ky, kx) and the batch folded into the pixel p = (n, oh, ow) (N = N·OH·OW); 0 in the padding.</summary>
public struct ConvIm2ColB<T> : IGemmOperand<T, ConvArgs> where T : unmanaged
{
    public readonly T Load(ArrayView1D<T, Stride1D.Dense> x, ConvArgs a, int g, int k, int p)
    {
        int khw = a.KH * a.KW, ohw = a.OH * a.OW;
        if (k >= a.Cg * khw || p >= a.N * ohw) return default;
        int c = k / khw, r = k - c * khw;
        int ky = r / a.KW, kx = r - ky * a.KW;
        int n = p / ohw, q = p - n * ohw;
        int oh = q / a.OW, ow = q - oh * a.OW;
        int ih = oh * a.SH - a.PH + ky * a.DH, iw = ow * a.SW - a.PW + kx * a.DW;
        if (ih < 0 || ih >= a.H || iw < 0 || iw >= a.W) return default;
        return x[a.XOff + n * a.XsN + (g * a.Cg + c) * a.XsC + ih * a.XsH + iw * a.XsW];
    }
    public readonly bool ColumnFast(ConvArgs a) => a.XsW == 1 || a.XsC != 1;
}

/// <summary>The convolution forward's output: y[n, g·Og + m, oh, ow] = value + bias (the bias view is
/// <c>extra</c>, read when <see cref="ConvArgs.HasBias"/>).</summary>
public struct ConvOutputStore<T, TE> : IGemmStore<T, ConvArgs> where T : unmanaged where TE : struct, IElement<T>
{
    public readonly void Store(ArrayView1D<T, Stride1D.Dense> y, ArrayView1D<T, Stride1D.Dense> bias, ConvArgs a, int g, int m, int p, T value)
    {
        int o = g * a.Og + m, ohw = a.OH * a.OW;
        if (a.HasBias != 0) value = default(TE).Add(value, bias[a.BOff + o * a.BS]);
        int n = p / ohw, q = p - n * ohw;
        int oh = q / a.OW, ow = q - oh * a.OW;
        y[a.YOff + n * a.YsN + o * a.YsC + oh * a.YsH + ow * a.YsW] = value;
    }
}
