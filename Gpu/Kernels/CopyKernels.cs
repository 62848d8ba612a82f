using ILGPU;
using ILGPU.Runtime;

namespace Sparkle.Gpu.Kernels;

/// <summary>Strided copy, cast and fill (operand 0 = dst, operand 1 = src).</summary>
public static class CopyKernels
{
    /// <summary>Same-dtype strided copy: bits move unchanged (NaN payloads included).</summary>
    public static void Copy<T>(Index1D i, ArrayView1D<T, Stride1D.Dense> src, ArrayView1D<T, Stride1D.Dense> dst, Layout4 l)
        where T : unmanaged
    {
        l.Locate(i, out int od, out int os, out _, out _);
        dst[od] = src[os];
    }

    /// <summary>dst = (TD) src with CpuBackend.Convert's rules: through long when both sides are int32/int64
    /// (<paramref name="viaLong"/> != 0: exact widening, wrapping narrowing), otherwise through double
    /// (float to int truncates toward zero, anything to bool is != 0).</summary>
    public static void Cast<TS, TD, ES, ED>(Index1D i, ArrayView1D<TS, Stride1D.Dense> src, ArrayView1D<TD, Stride1D.Dense> dst,
        Layout4 l, int viaLong)
        where TS : unmanaged where TD : unmanaged where ES : struct, IElement<TS> where ED : struct, IElement<TD>
    {
        l.Locate(i, out int od, out int os, out _, out _);
        TS v = src[os];
        dst[od] = viaLong != 0 ? default(ED).FromLong(default(ES).ToLong(v)) : default(ED).FromDouble(default(ES).ToDouble(v));
    }

    public static void Fill<T>(Index1D i, ArrayView1D<T, Stride1D.Dense> dst, Layout4 l, T value) where T : unmanaged
    {
        l.Locate(i, out int od, out _, out _, out _);
        dst[od] = value;
    }
}
