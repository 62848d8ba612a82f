using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using Sparkle.Tensors;
using Sparkle.Tensors.Backend;

namespace Sparkle.Gpu.Kernels;

/// <summary>What <see cref="RandomKernel.Sample{T, TE}"/> draws (RandomSpec flattened to blittable fields).</summary>
public struct RandomArgs
{
    public int Kind;           // RandomKind
    public double A, B;
    public ulong Seed, Offset;
    public long Low;           // randint
    public ulong Range;        // randint: high - low
    public int Float32;        // uniform: the float32 recipe (24-bit u, rounded once)
    public int Int64;          // randint into int64: exact, no detour through double
    /// <summary>Always 0, but unknown to the compiler: see <see cref="RandomKernel"/> on FMA contraction.</summary>
    public ulong Opaque;
}

/// <summary>
/// docs/random.md on the device: element i takes Philox.At(seed, offset + i) (the very function the CPU uses,
/// compiled by ILGPU) and the sampling formulas of PhiloxSampling, written out here because they call
/// Math/MathF helpers that kernels cannot. Uniform, bernoulli and randint are integer ops plus one multiply
/// and one add, so they match the CPU bit for bit; normals go through log/cos/sqrt and match to a few ulp.
/// FMA: ILGPU emits plain mul.f64/add.f64, which ptxas may fuse into one fma (different rounding). The uniform
/// product is therefore passed through an XOR with <see cref="RandomArgs.Opaque"/> (a zero the compiler cannot
/// see), so the add cannot be fused with the multiply and both round separately, as on the CPU.
/// </summary>
public static class RandomKernel
{
    private const double TwoPow24Inv = 1.0 / (1 << 24);
    private const double TwoPow32Inv = 1.0 / 4294967296.0;
    private const double TwoPow53Inv = 1.0 / 9007199254740992.0;
    private const double TwoPi = 2.0 * 3.14159265358979323846;

    public static void Sample<T, TE>(Index1D i, ArrayView1D<T, Stride1D.Dense> dst, RandomArgs p)
        where T : unmanaged where TE : struct, IElement<T>
    {
        var b = Philox.At(p.Seed, unchecked(p.Offset + (ulong)(long)i.X));
        var e = default(TE);
        ulong bits = b.X0 | ((ulong)b.X1 << 32);
        T r;
        switch (p.Kind)
        {
            case (int)RandomKind.Uniform:
                r = p.Float32 != 0 ? e.FromDouble(UniformFloat(b.X0, p.A, p.B, p.Opaque)) : e.FromDouble(UniformDouble(bits, p.A, p.B, p.Opaque));
                break;
            case (int)RandomKind.Normal:
            {
                double u1 = ((bits >> 11) + 1) * TwoPow53Inv;
                double u2 = ((b.X2 | ((ulong)b.X3 << 32)) >> 11) * TwoPow53Inv;
                double z = XMath.Sqrt(-2.0 * XMath.Log(u1)) * XMath.Cos(TwoPi * u2);
                r = e.FromDouble(p.A + p.B * z);
                break;
            }
            case (int)RandomKind.Bernoulli:
                r = e.FromDouble(b.X0 * TwoPow32Inv < p.A ? 1.0 : 0.0);
                break;
            default:
            {
                long v = p.Low + (long)(bits % p.Range);
                r = p.Int64 != 0 ? e.FromLong(v) : e.FromDouble(v);
                break;
            }
        }
        dst[i] = r;
    }

    private static float UniformFloat(uint x0, double lo, double hi, ulong opaque)
    {
        float u = (float)((x0 >> 8) * TwoPow24Inv);
        float v = (float)(lo + Unfusable((hi - lo) * u, opaque));
        float h = (float)hi;
        return v >= h && h > (float)lo ? BitDecrement(h) : v;
    }

    private static double UniformDouble(ulong bits, double lo, double hi, ulong opaque)
    {
        double v = lo + Unfusable((hi - lo) * ((bits >> 11) * TwoPow53Inv), opaque);
        return v >= hi && hi > lo ? BitDecrement(hi) : v;
    }

    /// <summary>x unchanged (opaque is 0), through an integer op the code generator cannot fold away.</summary>
    private static double Unfusable(double x, ulong opaque) => Interop.IntAsFloat(Interop.FloatAsInt(x) ^ opaque);

    /// <summary>MathF.BitDecrement for finite or +infinite h (the only values reached here).</summary>
    private static float BitDecrement(float h)
    {
        uint bits = Interop.FloatAsInt(h);
        if (h == 0) return Interop.IntAsFloat(0x80000001u);
        return Interop.IntAsFloat(h > 0 ? bits - 1 : bits + 1);
    }

    private static double BitDecrement(double h)
    {
        ulong bits = Interop.FloatAsInt(h);
        if (h == 0) return Interop.IntAsFloat(0x8000000000000001ul);
        return Interop.IntAsFloat(h > 0 ? bits - 1 : bits + 1);
    }
}
