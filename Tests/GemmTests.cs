using FsCheck.Xunit;
using Sparkle.Tensors.Cpu;
using Sparkle.Tensors.Cpu.Gemm;
using Sparkle.Tests.Support;
using Xunit;

namespace Sparkle.Tests;

/// <summary>
/// The GEMM kernel (Blas.Gemm) against a naive float64 reference: odd sizes, primes, K=1, tall/skinny,
/// every transpose variant and non-unit strides, float32/float64, accumulate, 1 and 2 threads, each
/// micro-kernel forced. The tolerance is the classical dot-product error bound (k+2)·eps·Σ|a||b|.
/// </summary>
public class GemmTests
{
    /// <summary>One GEMM problem laid out in memory: operands with arbitrary strides, C with row padding.</summary>
    private sealed class Case<T> where T : unmanaged
    {
        public int M, N, K, Ldc, COffset;
        public bool Accumulate;
        public GemmKernel Kernel;
        public StridedMatrix<T> A, B;
        public T[] C = [];
        public T[] C0 = [];
        public string Describe = "";
    }

    private static readonly double PadSentinel = 12345.0;

    private static StridedMatrix<T> Operand<T>(Random rng, int rows, int cols, bool transposed, int step, out string what) where T : unmanaged
    {
        // Stored as rows x cols row-major (or cols x rows for a transposed operand), with padded leading
        // dimension, an element step and an offset; then viewed back as rows x cols.
        int ld = (transposed ? rows : cols) + rng.Next(0, 3);
        int offset = rng.Next(0, 4);
        int rs = transposed ? step : ld * step, cs = transposed ? ld * step : step;
        int length = offset + (rows - 1) * rs + (cols - 1) * cs + 1 + rng.Next(0, 3);
        var data = new T[Math.Max(length, 1)];
        for (int i = 0; i < data.Length; i++) data[i] = FromDouble<T>(rng.NextDouble() * 2 - 1);
        what = $"{(transposed ? "T" : "N")}(rs={rs},cs={cs},off={offset})";
        return new StridedMatrix<T>(data, offset, rs, cs);
    }

    private static Case<T> MakeCase<T>(Random rng, int m, int n, int k, bool? transA = null, bool? transB = null,
        bool? accumulate = null, int maxStep = 2) where T : unmanaged
    {
        var cs = new Case<T> { M = m, N = n, K = k, Accumulate = accumulate ?? rng.Next(2) == 0 };
        cs.A = Operand<T>(rng, m, k, transA ?? rng.Next(2) == 0, rng.Next(1, maxStep + 1), out var wa);
        cs.B = Operand<T>(rng, k, n, transB ?? rng.Next(2) == 0, rng.Next(1, maxStep + 1), out var wb);
        cs.Ldc = n + rng.Next(0, 3);
        cs.COffset = rng.Next(0, 3);
        cs.C0 = new T[cs.COffset + (m - 1) * cs.Ldc + n + 2];
        for (int i = 0; i < cs.C0.Length; i++) cs.C0[i] = FromDouble<T>(PadSentinel);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
                cs.C0[cs.COffset + i * cs.Ldc + j] = cs.Accumulate ? FromDouble<T>(rng.NextDouble() * 2 - 1) : FromDouble<T>(double.NaN);
        cs.C = (T[])cs.C0.Clone();
        cs.Describe = $"{typeof(T).Name} m={m} n={n} k={k} A={wa} B={wb} ldc={cs.Ldc} acc={cs.Accumulate}";
        return cs;
    }

    /// <summary>Runs the case with <paramref name="kernel"/> (Auto: the host's best), passed as Blas.Gemm's argument.</summary>
    private static void Run<T>(Case<T> cs, GemmKernel kernel = GemmKernel.Auto) where T : unmanaged, System.Numerics.INumber<T>
    {
        cs.Kernel = kernel;
        Blas.Gemm(cs.M, cs.N, cs.K, cs.A, cs.B, cs.C, cs.COffset, cs.Ldc, cs.Accumulate, kernel);
    }

    private static double Get<T>(in StridedMatrix<T> x, int i, int j) where T : unmanaged =>
        ToDouble(x.Data[x.Offset + i * x.RowStride + j * x.ColStride]);

    /// <summary>Checks C against the float64 reference within the error bound, and that padding is untouched.</summary>
    private static void Verify<T>(Case<T> cs) where T : unmanaged
    {
        double eps = typeof(T) == typeof(float) ? 1.0 / (1 << 23) : 1.0 / (1L << 52);
        var inside = new bool[cs.C.Length];
        for (int i = 0; i < cs.M; i++)
            for (int j = 0; j < cs.N; j++)
            {
                int at = cs.COffset + i * cs.Ldc + j;
                inside[at] = true;
                double c0 = cs.Accumulate ? ToDouble(cs.C0[at]) : 0;
                double sum = c0, abs = Math.Abs(c0);
                for (int p = 0; p < cs.K; p++)
                {
                    double prod = Get(cs.A, i, p) * Get(cs.B, p, j);
                    sum += prod; abs += Math.Abs(prod);
                }
                double got = ToDouble(cs.C[at]);
                double tol = (cs.K + 2) * eps * abs + 1e-300;
                if (!(Math.Abs(got - sum) <= tol))
                    Assert.Fail($"{cs.Describe} [{cs.Kernel}]: C[{i},{j}] = {got:R}, expected {sum:R} (tol {tol:G3})");
            }
        for (int at = 0; at < cs.C.Length; at++)
            if (!inside[at] && ToDouble(cs.C[at]) != PadSentinel)
                Assert.Fail($"{cs.Describe}: wrote outside C (index {at})");
    }

    private static T FromDouble<T>(double v) where T : unmanaged =>
        typeof(T) == typeof(float) ? (T)(object)(float)v : (T)(object)v;

    private static double ToDouble<T>(T v) where T : unmanaged =>
        v is float f ? f : (double)(object)v;

    private static void WithThreads(int threads, Action body)
    {
        int saved = IntraOpPool.NumThreads;
        IntraOpPool.NumThreads = threads;
        try { body(); }
        finally { IntraOpPool.NumThreads = saved; }
    }

    private static void CheckRandom<T>(long seed, int maxDim, int threads, GemmKernel kernel = GemmKernel.Auto) where T : unmanaged, System.Numerics.INumber<T>
    {
        var rng = new SeededRandom(seed);
        var cs = MakeCase<T>(rng, rng.Next(1, maxDim + 1), rng.Next(1, maxDim + 1), rng.Next(1, maxDim + 1));
        WithThreads(threads, () => Run(cs, kernel));
        Verify(cs);
    }

    // ---- the default kernel, random odd sizes, all layouts ----

    [Property(MaxTest = 60)]
    public void Float32RandomSizesAndLayouts(long seed) => CheckRandom<float>(seed, 70, 1 + (int)(seed & 1));

    [Property(MaxTest = 40)]
    public void Float64RandomSizesAndLayouts(long seed) => CheckRandom<double>(seed, 70, 1 + (int)(seed & 1));

    public static TheoryData<int, int, int> SpecialShapes => new()
    {
        { 1, 1, 1 }, { 1, 1, 7 }, { 2, 3, 1 }, { 7, 5, 1 }, { 97, 101, 1 }, { 1, 64, 1 },
        { 1000, 3, 5 }, { 3, 1000, 7 }, { 5, 3, 1000 }, { 1000, 1, 5 }, { 1, 1000, 5 }, { 1, 5, 1000 },
        { 13, 17, 19 }, { 61, 67, 71 }, { 97, 89, 83 }, { 6, 16, 256 }, { 12, 32, 192 },
        { 145, 17, 300 },   // two MC blocks, two k blocks
        { 7, 4100, 5 },     // more than one NC panel
        { 150, 33, 600 },   // three k blocks
    };

    [Theory, MemberData(nameof(SpecialShapes))]
    public void SpecialShapesAllLayouts(int m, int n, int k)
    {
        var rng = new Random(m * 10007 + n * 101 + k);
        foreach (bool ta in new[] { false, true })
            foreach (bool tb in new[] { false, true })
            {
                var f = MakeCase<float>(rng, m, n, k, ta, tb);
                var d = MakeCase<double>(rng, m, n, k, ta, tb);
                WithThreads(1 + rng.Next(2), () => { Run(f); Run(d); });
                Verify(f);
                Verify(d);
            }
    }

    // ---- each micro-kernel forced (Vector512 is emulated without AVX-512: small sizes) ----

    [Property(MaxTest = 25)]
    public void Vector512KernelForced(long seed)
    {
        CheckRandom<float>(seed, 40, 1 + (int)(seed & 1), GemmKernel.Vector512);
        CheckRandom<double>(seed ^ 0x5a5a, 30, 1, GemmKernel.Vector512);
    }

    [Property(MaxTest = 25)]
    public void Vector256KernelForced(long seed)
    {
        CheckRandom<float>(seed, 70, 1 + (int)(seed & 1), GemmKernel.Vector256);
        CheckRandom<double>(seed ^ 0x5a5a, 70, 1, GemmKernel.Vector256);
    }

    [Property(MaxTest = 25)]
    public void Vector128KernelForced(long seed)
    {
        CheckRandom<float>(seed, 70, 1 + (int)(seed & 1), GemmKernel.Vector128);
        CheckRandom<double>(seed ^ 0x5a5a, 70, 1, GemmKernel.Vector128);
    }

    [Property(MaxTest = 25)]
    public void ScalarKernelForced(long seed)
    {
        CheckRandom<float>(seed, 70, 1 + (int)(seed & 1), GemmKernel.Scalar);
        CheckRandom<double>(seed ^ 0x5a5a, 70, 1, GemmKernel.Scalar);
    }

    /// <summary>Several k blocks (KC = 256) accumulating into C, with partial tiles at both edges, per micro-kernel.</summary>
    [Theory]
    [InlineData(CpuIsa.Avx512)]
    [InlineData(CpuIsa.Avx2)]
    [InlineData(CpuIsa.V128)]
    [InlineData(CpuIsa.Scalar)]
    public void KernelMultipleBlocks(CpuIsa isa)
    {
        var kernel = new CpuKernelOptions { Isa = isa }.GemmKernel;
        var rng = new Random(7);
        var cs = MakeCase<float>(rng, 25, 35, 600, accumulate: true);
        Run(cs, kernel);
        Verify(cs);
        var cd = MakeCase<double>(rng, 19, 13, 300, accumulate: false);
        Run(cd, kernel);
        Verify(cd);
    }

    /// <summary>Every FMA kernel sums each element in the same order with one rounding per step, so they agree bit for bit
    /// (the Vector128 one where 128-bit vectors fuse in hardware: AdvSimd, or FMA on x64). m, n &gt;= 2: matrix-vector
    /// products of the Vector256 and Vector512 families go to Gemv, whose order differs.</summary>
    [Property(MaxTest = 15)]
    public void FmaKernelsAgreeBitwise(long seed)
    {
        var rng = new SeededRandom(seed);
        int m = rng.Next(2, 30), n = rng.Next(2, 40), k = rng.Next(1, 300);
        var v256 = MakeCase<float>(new SeededRandom(seed), m, n, k);
        Run(v256, GemmKernel.Vector256);
        var kernels = VectorFma.Fused128 ? new[] { GemmKernel.Vector512, GemmKernel.Vector128 } : [GemmKernel.Vector512];
        foreach (var kernel in kernels)
        {
            var other = MakeCase<float>(new SeededRandom(seed), m, n, k);
            Run(other, kernel);
            Assert.True(v256.C.SequenceEqual(other.C), $"{kernel} differs from Vector256 at m={m} n={n} k={k}");
        }
    }

    // ---- threading ----

    [Property(MaxTest = 10)]
    public void OneAndTwoThreadsAreBitIdentical(long seed)
    {
        var rng = new SeededRandom(seed);
        // Above Blas.ParallelMinMacs so the 2-thread run really splits, with edges and several k blocks.
        int m = rng.Next(100, 220), n = rng.Next(100, 220), k = rng.Next(100, 600);
        if (rng.Next(4) == 0) { m = 1; n = rng.Next(4000, 6000); k = rng.Next(250, 400); }      // GEMV forms split
        else if (rng.Next(3) == 0) { n = 1; m = rng.Next(4000, 6000); k = rng.Next(250, 400); } // the vector's length
        Assert.True((long)m * n * k >= Blas.ParallelMinMacs);
        var one = MakeCase<float>(new SeededRandom(seed), m, n, k);
        var two = MakeCase<float>(new SeededRandom(seed), m, n, k);
        WithThreads(1, () => Run(one));
        WithThreads(2, () => Run(two));
        Assert.Equal(one.C, two.C);
        Verify(two);
    }

    [Fact]
    public void LargeSquareTwoThreadsMatchesReference()
    {
        var rng = new Random(3);
        var cs = MakeCase<float>(rng, 300, 290, 280, transA: false, transB: false, accumulate: false, maxStep: 1);
        WithThreads(2, () => Run(cs));
        Verify(cs);
    }

    /// <summary>Packing buffers are per-thread and reused, and the parallel paths use cached delegates:
    /// a steady-state call allocates nothing on the managed heap.</summary>
    [Fact]
    public void SteadyStateCallsDoNotAllocate()
    {
        var rng = new Random(1);
        var gemm = MakeCase<float>(rng, 64, 48, 300, maxStep: 1);
        var gemv = MakeCase<double>(rng, 1, 100, 70, maxStep: 1);
        WithThreads(1, () =>
        {
            for (int i = 0; i < 3; i++) { Run(gemm); Run(gemv); }
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 10; i++) { Run(gemm); Run(gemv); }
            Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        });
    }

    // ---- degenerate sizes ----

    [Fact]
    public void KZeroClearsOrKeepsC()
    {
        var c = new float[] { 1, 2, 3, 4, 5, 6 };
        var empty = new StridedMatrix<float>([], 0, 0, 1);
        Blas.Gemm(2, 3, 0, empty, empty, c, 0, 3, accumulate: true);
        Assert.Equal(new float[] { 1, 2, 3, 4, 5, 6 }, c);
        Blas.Gemm(2, 2, 0, empty, empty, c, 0, 3, accumulate: false);
        Assert.Equal(new float[] { 0, 0, 3, 0, 0, 6 }, c);
    }

    [Fact]
    public void EmptyOutputIsANoOp()
    {
        var c = new double[] { 9 };
        var a = new StridedMatrix<double>([1, 2, 3], 0, 3, 1);
        Blas.Gemm(0, 1, 3, a, a, c, 0, 1, accumulate: false);
        Blas.Gemm(1, 0, 3, a, a, c, 0, 1, accumulate: false);
        Assert.Equal(9, c[0]);
    }

    [Fact]
    public void OperandsThatDoNotFitTheirArrayAreRejected()
    {
        var a = new StridedMatrix<float>(new float[6], 0, 3, 1);  // 2x3 fits, 3x3 does not
        var c = new float[9];
        var e = Assert.Throws<ArgumentException>(() => Blas.Gemm(3, 3, 3, a, a, c, 0, 3, accumulate: false));
        Assert.Contains("operand A", e.Message);
        Assert.Throws<ArgumentException>(() => Blas.Gemm(2, 3, 3, a, new StridedMatrix<float>(new float[9], 0, 3, 1), c, 4, 3, accumulate: false)); // C rows 1..2 end past c
    }

    [Fact]
    public void BroadcastOperandWithZeroStrides()
    {
        // A is one row repeated (row stride 0), B one value everywhere (both strides 0).
        var a = new StridedMatrix<float>([1, 2, 3], 0, 0, 1);
        var b = new StridedMatrix<float>([0.5f], 0, 0, 0);
        var c = new float[4 * 5];
        Blas.Gemm(4, 5, 3, a, b, c, 0, 5, accumulate: false);
        Assert.All(c, x => Assert.Equal(3f, x));
    }
}
