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
/// axpy over columns of X with y accumulated in an L1 block. Each y[i] is computed by the same code whatever range it
/// falls in, so splitting L across threads does not change results.
/// Needs AVX2+FMA; otherwise (or when X has no unit stride) the caller uses the packed GEMM.
/// </summary>
internal static class Gemv
{
    private const int AxpyChunk = 64; // the axpy form splits y across threads in multiples of this

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
        ParallelJob<T>.ForThisThread.Run(job, dotForm, unitSize, length, units, grain);
        return true;
    }

    private readonly record struct Job<T>(StridedMatrix<T> X, T[] V, int VOffset, int K, T[] Y, int YOffset, int YStride, bool Accumulate)
        where T : unmanaged;

    /// <summary>Holds a parallel call's state for the pool's range body, so the call allocates nothing
    /// (a lambda would allocate a closure per call). One per calling thread.</summary>
    private sealed class ParallelJob<T> where T : unmanaged
    {
        [ThreadStatic] private static ParallelJob<T>? _forThread;
        public static ParallelJob<T> ForThisThread => _forThread ??= new();

        private readonly Action<int> _body;
        private Job<T> _job;
        private bool _dotForm;
        private int _unitSize, _length, _unitsPerChunk;

        private ParallelJob() { _body = Chunk; }

        /// <summary>Splits [0, units) into chunks of at least grain units, about four per thread (as
        /// IntraOpPool.ForRange does, without its per-call closure).</summary>
        public void Run(in Job<T> job, bool dotForm, int unitSize, int length, int units, int grain)
        {
            int chunks = Math.Min(IntraOpPool.NumThreads * 4, (units + grain - 1) / grain);
            _unitsPerChunk = (units + chunks - 1) / chunks;
            chunks = (units + _unitsPerChunk - 1) / _unitsPerChunk;
            _job = job; _dotForm = dotForm; _unitSize = unitSize; _length = length;
            try { IntraOpPool.For(chunks, _body); }
            finally { _job = default; } // do not keep the caller's arrays alive
        }

        private void Chunk(int c)
        {
            int i0 = c * _unitsPerChunk * _unitSize;
            Range(_job, _dotForm, i0, Math.Min(_length, i0 + _unitsPerChunk * _unitSize));
        }
    }

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

    /// <summary>y[i0..i1) = sum_p v[p] * X column p. The columns of X are contiguous and k of them lie one
    /// stride apart (rows of a row-major B), so X is streamed column after column, four at a time, with
    /// y (a block of it, L1-sized) accumulated in a scratch buffer. Each element is a plain FMA chain over
    /// p in order, so the vector body and the scalar tail agree bit for bit, whatever the range split.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AxpyColumns<T>(in Job<T> job, int i0, int i1) where T : unmanaged
    {
        const int Block = 2048; // y elements per pass: 8 KB of float, 16 KB of double
        int k = job.K, w = Vector256<T>.Count;
        nint cs = job.X.ColStride;
        ref T v = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(job.V), job.VOffset);
        ref T x0 = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(job.X.Data), job.X.Offset);
        ref T y0 = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(job.Y), job.YOffset);
        ref T acc = ref PackBuffers<T>.Tile.Get(Block);
        for (int b0 = i0; b0 < i1; b0 += Block)
        {
            int len = Math.Min(Block, i1 - b0);
            MemoryMarshal.CreateSpan(ref acc, len).Clear();
            ref T xb = ref Unsafe.Add(ref x0, b0);
            int p = 0;
            for (; p + 4 <= k; p += 4)
            {
                ref T c0 = ref Unsafe.Add(ref xb, p * cs);
                ref T c1 = ref Unsafe.Add(ref c0, cs);
                ref T c2 = ref Unsafe.Add(ref c1, cs);
                ref T c3 = ref Unsafe.Add(ref c2, cs);
                T s0 = Unsafe.Add(ref v, p), s1 = Unsafe.Add(ref v, p + 1), s2 = Unsafe.Add(ref v, p + 2), s3 = Unsafe.Add(ref v, p + 3);
                Vector256<T> v0 = Vector256.Create(s0), v1 = Vector256.Create(s1), v2 = Vector256.Create(s2), v3 = Vector256.Create(s3);
                int i = 0;
                for (; i + w <= len; i += w)
                {
                    var y = Vector256.LoadUnsafe(ref acc, (nuint)i);
                    y = VectorFma.Fma(v0, Vector256.LoadUnsafe(ref c0, (nuint)i), y);
                    y = VectorFma.Fma(v1, Vector256.LoadUnsafe(ref c1, (nuint)i), y);
                    y = VectorFma.Fma(v2, Vector256.LoadUnsafe(ref c2, (nuint)i), y);
                    y = VectorFma.Fma(v3, Vector256.LoadUnsafe(ref c3, (nuint)i), y);
                    y.StoreUnsafe(ref acc, (nuint)i);
                }
                for (; i < len; i++)
                {
                    ref T y = ref Unsafe.Add(ref acc, i);
                    y = ScalarOps.Fma(s0, Unsafe.Add(ref c0, i), y);
                    y = ScalarOps.Fma(s1, Unsafe.Add(ref c1, i), y);
                    y = ScalarOps.Fma(s2, Unsafe.Add(ref c2, i), y);
                    y = ScalarOps.Fma(s3, Unsafe.Add(ref c3, i), y);
                }
            }
            for (; p < k; p++)
            {
                ref T c0 = ref Unsafe.Add(ref xb, p * cs);
                T s0 = Unsafe.Add(ref v, p);
                var v0 = Vector256.Create(s0);
                int i = 0;
                for (; i + w <= len; i += w)
                    VectorFma.Fma(v0, Vector256.LoadUnsafe(ref c0, (nuint)i), Vector256.LoadUnsafe(ref acc, (nuint)i)).StoreUnsafe(ref acc, (nuint)i);
                for (; i < len; i++) Unsafe.Add(ref acc, i) = ScalarOps.Fma(s0, Unsafe.Add(ref c0, i), Unsafe.Add(ref acc, i));
            }
            for (int i = 0; i < len; i++) Store(ref y0, job, b0 + i, Unsafe.Add(ref acc, i));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store<T>(ref T y0, in Job<T> job, int i, T value) where T : unmanaged
    {
        ref T y = ref Unsafe.Add(ref y0, (nint)i * job.YStride);
        y = job.Accumulate ? ScalarOps.Add(y, value) : value;
    }
}
