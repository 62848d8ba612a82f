using System.Numerics;
using System.Runtime.CompilerServices;

namespace Sparkle.Tensors.Cpu.Gemm;

/// <summary>
/// Portable micro-kernel for hardware without FMA vector units: a 4x4 tile of scalar accumulators.
/// Uses separate multiply and add (a software FMA would be far slower), so its results may differ
/// from the FMA kernels in the last bit.
/// </summary>
internal readonly struct MicroKernelScalar<T> : IMicroKernel<T> where T : unmanaged, INumber<T>
{
    public static int MR => 4;
    public static int NR => 4;
    public static int MC => 128;
    public static int NC => 4096;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run(int kc, ref T a, ref T b, ref T c, nint ldc, bool add)
    {
        T c00 = T.Zero, c01 = T.Zero, c02 = T.Zero, c03 = T.Zero, c10 = T.Zero, c11 = T.Zero, c12 = T.Zero, c13 = T.Zero, c20 = T.Zero, c21 = T.Zero, c22 = T.Zero, c23 = T.Zero, c30 = T.Zero, c31 = T.Zero, c32 = T.Zero, c33 = T.Zero;
        for (int p = 0; p < kc; p++)
        {
            T b0 = b;
            T b1 = Unsafe.Add(ref b, 1);
            T b2 = Unsafe.Add(ref b, 2);
            T b3 = Unsafe.Add(ref b, 3);
            T x;
            x = a;
            c00 += x * b0; c01 += x * b1; c02 += x * b2; c03 += x * b3;
            x = Unsafe.Add(ref a, 1);
            c10 += x * b0; c11 += x * b1; c12 += x * b2; c13 += x * b3;
            x = Unsafe.Add(ref a, 2);
            c20 += x * b0; c21 += x * b1; c22 += x * b2; c23 += x * b3;
            x = Unsafe.Add(ref a, 3);
            c30 += x * b0; c31 += x * b1; c32 += x * b2; c33 += x * b3;
            a = ref Unsafe.Add(ref a, 4);
            b = ref Unsafe.Add(ref b, 4);
        }
        StoreRow(ref c, c00, c01, c02, c03, add);
        StoreRow(ref Unsafe.Add(ref c, ldc), c10, c11, c12, c13, add);
        StoreRow(ref Unsafe.Add(ref c, 2 * ldc), c20, c21, c22, c23, add);
        StoreRow(ref Unsafe.Add(ref c, 3 * ldc), c30, c31, c32, c33, add);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreRow(ref T c, T v0, T v1, T v2, T v3, bool add)
    {
        if (add)
        {
            v0 += c; v1 += Unsafe.Add(ref c, 1); v2 += Unsafe.Add(ref c, 2); v3 += Unsafe.Add(ref c, 3);
        }
        c = v0; Unsafe.Add(ref c, 1) = v1; Unsafe.Add(ref c, 2) = v2; Unsafe.Add(ref c, 3) = v3;
    }
}
