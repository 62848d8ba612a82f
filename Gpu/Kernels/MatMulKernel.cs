using ILGPU;
using ILGPU.Runtime;

namespace Sparkle.Gpu.Kernels;

/// <summary>Shapes and strides of a batched product dst[b] = a[b] @ b[b] (+ dst[b]); dst contiguous (B, M, N).</summary>
public struct MatMulArgs
{
    public int M, N, K;
    public int AOff, SaB, SaM, SaK;
    public int BOff, SbB, SbK, SbN;
    public int Accumulate;
}

/// <summary>
/// Naive batched GEMM: one thread per output element, a K loop in T. Correct for any strides (batch stride 0 =
/// broadcast) and simple enough for the first slice; a shared-memory tiled kernel is the obvious next step
/// (GPU.md: a one-thread-per-output GEMM is far from peak).
/// </summary>
public static class MatMulKernel
{
    public static void MatMul<T, TE>(Index1D i, ArrayView1D<T, Stride1D.Dense> a, ArrayView1D<T, Stride1D.Dense> b,
        ArrayView1D<T, Stride1D.Dense> dst, int dOff, MatMulArgs p)
        where T : unmanaged where TE : struct, IElement<T>
    {
        var e = default(TE);
        int n = i % p.N, rest = i / p.N;
        int m = rest % p.M, batch = rest / p.M;
        int ao = p.AOff + batch * p.SaB + m * p.SaM;
        int bo = p.BOff + batch * p.SbB + n * p.SbN;
        T acc = p.Accumulate != 0 ? dst[dOff + i] : e.FromLong(0);
        for (int k = 0; k < p.K; k++)
            acc = e.Add(acc, e.Mul(a[ao + k * p.SaK], b[bo + k * p.SbK]));
        dst[dOff + i] = acc;
    }
}
