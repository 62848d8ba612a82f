using ILGPU;

namespace Sparkle.Gpu.Kernels;

/// <summary>
/// Which element of an m16n8k8 tile each lane holds in each fragment register of
/// <c>mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32</c> (PTX ISA, "Matrix Fragments for mma.m16n8k8", .tf32):
/// groupID = lane / 4, threadID_in_group = lane % 4;
/// A (16x8, 4 regs): row = groupID (+8 for a1, a3), col = threadID_in_group (+4 for a2, a3);
/// B (8x8, 2 regs): row = threadID_in_group (+4 for b1), col = groupID;
/// C/D (16x8, 4 f32): row = groupID (+8 for c2, c3), col = 2·threadID_in_group + (i &amp; 1).
/// Plain static methods so the host tests check them against the ISA's table and the kernel uses them for its loads
/// and stores. <see cref="Tf32MmaEmulation"/> transcribes the same layout separately (on purpose: a wrong mapping here
/// then disagrees with the emulated mma and the simulator test fails).
/// </summary>
public static class Tf32Fragment
{
    public static int ARow(int lane, int r) => (lane >> 2) + 8 * (r & 1);
    public static int ACol(int lane, int r) => (lane & 3) + 4 * (r >> 1);
    public static int BRow(int lane, int r) => (lane & 3) + 4 * r;
    public static int BCol(int lane, int r) => lane >> 2;
    public static int CRow(int lane, int r) => (lane >> 2) + 8 * (r >> 1);
    public static int CCol(int lane, int r) => 2 * (lane & 3) + (r & 1);

    /// <summary>float32 -> tf32 (10 explicit mantissa bits), round to nearest with ties away from zero, as
    /// <c>cvt.rna.tf32.f32</c>: add half an ulp of tf32 to the magnitude bits and clear the 13 low bits (a carry into the
    /// exponent is the correct rounding up). Inf and NaN are left as they are. Used by the emulation and host references.</summary>
    public static float RoundTf32(float x)
    {
        uint bits = Interop.FloatAsInt(x);
        if ((bits & 0x7F800000u) != 0x7F800000u) bits = (bits + 0x1000u) & 0xFFFFE000u;
        return Interop.IntAsFloat(bits);
    }
}

/// <summary>Four fragment registers of one lane (an A fragment or an accumulator tile).</summary>
public readonly struct Tf32Frag4(float x0, float x1, float x2, float x3)
{
    public readonly float X0 = x0, X1 = x1, X2 = x2, X3 = x3;
}

/// <summary>Two fragment registers of one lane (a B fragment).</summary>
public readonly struct Tf32Frag2(float x0, float x1)
{
    public readonly float X0 = x0, X1 = x1;
}
