using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Sparkle.Tensors.Cpu.Gemm;

/// <summary>
/// Matrix-vector products (m == 1 or n == 1). Packing would copy the whole matrix to use it once, so
/// these stream it instead. Both cases are y[i] = sum_p X[i, p] v[p] for an L x k matrix X:
/// n == 1: X = A, v = column 0 of B;  m == 1: X = Bᵀ, v = row 0 of A.
/// Two loop forms, chosen by X's layout: rows contiguous -> one dot product per y[i]; columns contiguous ->
/// axpy over columns with y held in registers. Each y[i] is computed by the same code whatever range it
/// falls in, so splitting L across threads does not change results.
/// Needs AVX2+FMA; otherwise (or when X has no unit stride) the caller uses the packed GEMM.
/// </summary>
internal static class Gemv
{
    private const int AxpyChunk = 32; // elements of y per register block in the axpy form (float: 4 ymm)

    public static bool TryRun<T>(int m, int n, int k, in StridedMatrix<T> a, in StridedMatrix<T> b,
        T[] c, int cOffset, int ldc, bool accumulate, int threads) where T : unmanaged
    {
        if (!(Vector256.IsHardwareAccelerated && Fma.IsSupported)) return false;
        StridedMatrix<T> x, v; // v is a column: element p at v.Offset + p * v.RowStride
        int length, yStride;
        if (n == 1) { x = a; v = b; length = m; yStride = ldc; }
        else if (m == 1) { x = b.Transposed; v = a.Transposed; length = n; yStride = 1; }
        else return false;

        bool dotForm = x.ColStride == 1, axpyForm = x.RowStride == 1;
        if (!dotForm && !axpyForm) return false;
        if (dotForm && length > 1 && axpyForm) dotForm = k >= length; // both unit (a 1-wide X): stream the long way

        // The vector as a contiguous span (a gather into scratch when strided: k elements, cheap).
        T[] vData = v.Data;
        int vOffset = v.Offset;
        if (v.RowStride != 1 && k > 1)
        {
            vData = PackBuffers<T>.Vector.GetArray(k, out vOffset);
            for (int p = 0; p < k; p++) vData[vOffset + p] = v.Data[v.Offset + p * v.RowStride];
        }

        var job = new Job<T>(x, vData, vOffset, k, c, cOffset, yStride, accumulate);
        int units = dotForm ? length : (length + AxpyChunk - 1) / AxpyChunk;
        int unitSize = dotForm ? 1 : AxpyChunk;
        if (threads <= 1) { Range(job, dotForm, 0, length); return true; }
        int grain = Math.Max(1, (int)(Blas.ParallelMinMacs / 4 / ((long)k * unitSize)));
        IntraOpPool.ForRange(units, grain, (u0, u1) => Range(job, dotForm, u0 * unitSize, Math.Min(length, u1 * unitSize)));
        return true;
    }

    private readonly record struct Job<T>(StridedMatrix<T> X, T[] V, int VOffset, int K, T[] Y, int YOffset, int YStride, bool Accumulate)
        where T : unmanaged;

    private static void Range<T>(in Job<T> job, bool dotForm, int i0, int i1) where T : unmanaged
    {
        if (dotForm) DotRows(job, i0, i1);
        else AxpyColumns(job, i0, i1);
    }

    /// <summary>y[i] = dot(X row i, v) for i in [i0, i1).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void DotRows<T>(in Job<T> job, int i0, int i1) where T : unmanaged
    {
        int k = job.K, w = Vector256<T>.Count;
        ref T v = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(job.V), job.VOffset);
        ref T x0 = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(job.X.Data), job.X.Offset);
        ref T y0 = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(job.Y), job.YOffset);
        for (int i = i0; i < i1; i++)
        {
            ref T row = ref Unsafe.Add(ref x0, (nint)i * job.X.RowStride);
            Vector256<T> s0 = default, s1 = default, s2 = default, s3 = default;
            int p = 0;
            for (; p <= k - 4 * w; p += 4 * w)
            {
                s0 = VectorFma.Fma(Vector256.LoadUnsafe(ref row, (nuint)p), Vector256.LoadUnsafe(ref v, (nuint)p), s0);
                s1 = VectorFma.Fma(Vector256.LoadUnsafe(ref row, (nuint)(p + w)), Vector256.LoadUnsafe(ref v, (nuint)(p + w)), s1);
                s2 = VectorFma.Fma(Vector256.LoadUnsafe(ref row, (nuint)(p + 2 * w)), Vector256.LoadUnsafe(ref v, (nuint)(p + 2 * w)), s2);
                s3 = VectorFma.Fma(Vector256.LoadUnsafe(ref row, (nuint)(p + 3 * w)), Vector256.LoadUnsafe(ref v, (nuint)(p + 3 * w)), s3);
            }
            for (; p <= k - w; p += w)
                s0 = VectorFma.Fma(Vector256.LoadUnsafe(ref row, (nuint)p), Vector256.LoadUnsafe(ref v, (nuint)p), s0);
            T sum = Vector256.Sum((s0 + s1) + (s2 + s3));
            for (; p < k; p++) sum = ScalarOps.Fma(Unsafe.Add(ref row, p), Unsafe.Add(ref v, p), sum);
            ref T y = ref Unsafe.Add(ref y0, (nint)i * job.YStride);
            y = job.Accumulate ? ScalarOps.Add(y, sum) : sum;
        }
    }

    /// <summary>y[i0..i1) = sum_p v[p] * X column p, with y in registers (AxpyChunk at a time).
    /// i0 is a multiple of AxpyChunk; every element is a plain FMA chain over p, so the vector body and
    /// the scalar tail agree bit for bit.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AxpyColumns<T>(in Job<T> job, int i0, int i1) where T : unmanaged
    {
        int k = job.K, w = Vector256<T>.Count;
        nint cs = job.X.ColStride;
        ref T v = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(job.V), job.VOffset);
        ref T x0 = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(job.X.Data), job.X.Offset);
        ref T y0 = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(job.Y), job.YOffset);
        Span<T> block = stackalloc T[4 * Vector256<byte>.Count / Unsafe.SizeOf<T>()];
        int i = i0;
        for (; i <= i1 - 4 * w; i += 4 * w)
        {
            ref T col = ref Unsafe.Add(ref x0, i);
            Vector256<T> s0 = default, s1 = default, s2 = default, s3 = default;
            for (int p = 0; p < k; p++)
            {
                var vp = Vector256.Create(Unsafe.Add(ref v, p));
                ref T xp = ref Unsafe.Add(ref col, p * cs);
                s0 = VectorFma.Fma(vp, Vector256.LoadUnsafe(ref xp), s0);
                s1 = VectorFma.Fma(vp, Vector256.LoadUnsafe(ref xp, (nuint)w), s1);
                s2 = VectorFma.Fma(vp, Vector256.LoadUnsafe(ref xp, (nuint)(2 * w)), s2);
                s3 = VectorFma.Fma(vp, Vector256.LoadUnsafe(ref xp, (nuint)(3 * w)), s3);
            }
            ref T b0 = ref MemoryMarshal.GetReference(block);
            s0.StoreUnsafe(ref b0); s1.StoreUnsafe(ref b0, (nuint)w); s2.StoreUnsafe(ref b0, (nuint)(2 * w)); s3.StoreUnsafe(ref b0, (nuint)(3 * w));
            for (int j = 0; j < 4 * w; j++) Store(ref y0, job, i + j, block[j]);
        }
        for (; i < i1; i++)
        {
            ref T xi = ref Unsafe.Add(ref x0, i);
            T s = default;
            for (int p = 0; p < k; p++) s = ScalarOps.Fma(Unsafe.Add(ref v, p), Unsafe.Add(ref xi, p * cs), s);
            Store(ref y0, job, i, s);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store<T>(ref T y0, in Job<T> job, int i, T value) where T : unmanaged
    {
        ref T y = ref Unsafe.Add(ref y0, (nint)i * job.YStride);
        y = job.Accumulate ? ScalarOps.Add(y, value) : value;
    }
}
