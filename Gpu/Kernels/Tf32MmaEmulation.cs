using ILGPU;

namespace Sparkle.Gpu.Kernels;

/// <summary>
/// What 16 <c>mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32</c> of one k8 step of a <see cref="Tf32Gemm"/> warp
/// tile compute, for accelerators without inline PTX (the ILGPU CPU simulator with warp-32 groups). Each lane puts its
/// fragment registers, rounded to tf32 like <c>cvt.rna</c>, where the PTX ISA says they belong (the layout is written out
/// here again, not taken from <see cref="Tf32Fragment"/>, so a wrong mapping there makes the kernel's loads and stores
/// disagree with this mma), the group synchronises, and each lane adds the 8-term dot products of its accumulator
/// elements in FP32. Scratch per warp: A 64x8 (four m16 tiles, row-major) then B 8x32 (four n8 tiles).
/// Every thread of the group calls it the same number of times (the K loop is uniform), so Group.Barrier is safe.
/// </summary>
public static class Tf32MmaEmulation
{
    private const int PerWarp = 64 * 8 + 8 * 32, BOffset = 64 * 8;
    public const int Scratch = 8 * PerWarp;

    public static void Step(ArrayView<float> emu, ArrayView<float> acc, int lane, int warp,
        Tf32Frag4 a0, Tf32Frag4 a1, Tf32Frag4 a2, Tf32Frag4 a3, Tf32Frag2 b0, Tf32Frag2 b1, Tf32Frag2 b2, Tf32Frag2 b3)
    {
        int w = warp * PerWarp, g = lane / 4, t = lane % 4;
        PutA(emu, w, 0, g, t, a0);
        PutA(emu, w, 1, g, t, a1);
        PutA(emu, w, 2, g, t, a2);
        PutA(emu, w, 3, g, t, a3);
        PutB(emu, w, 0, g, t, b0);
        PutB(emu, w, 1, g, t, b1);
        PutB(emu, w, 2, g, t, b2);
        PutB(emu, w, 3, g, t, b3);
        Group.Barrier();
        for (int q = 0; q < 16; q++)
        {
            int i = q / 4, j = q % 4;
            for (int r = 0; r < 4; r++)
            {
                // D fragment: c0, c1 in row groupID, c2, c3 in row groupID + 8; columns threadID_in_group·2 + (r & 1).
                int row = r < 2 ? g : g + 8, col = t * 2 + r % 2;
                float sum = acc[4 * q + r];
                for (int k = 0; k < 8; k++)
                    sum += emu[w + (16 * i + row) * 8 + k] * emu[w + BOffset + k * 32 + 8 * j + col];
                acc[4 * q + r] = sum;
            }
        }
        Group.Barrier();
    }

    /// <summary>A fragment (16x8, row-major): a0 (groupID, tig), a1 (groupID + 8, tig), a2 (groupID, tig + 4),
    /// a3 (groupID + 8, tig + 4).</summary>
    private static void PutA(ArrayView<float> emu, int w, int i, int g, int t, Tf32Frag4 a)
    {
        int tile = w + 16 * i * 8;
        emu[tile + g * 8 + t] = Tf32Fragment.RoundTf32(a.X0);
        emu[tile + (g + 8) * 8 + t] = Tf32Fragment.RoundTf32(a.X1);
        emu[tile + g * 8 + t + 4] = Tf32Fragment.RoundTf32(a.X2);
        emu[tile + (g + 8) * 8 + t + 4] = Tf32Fragment.RoundTf32(a.X3);
    }

    /// <summary>B fragment (8x8, "col" operand): b0 (k = tig, n = groupID), b1 (k = tig + 4, n = groupID).</summary>
    private static void PutB(ArrayView<float> emu, int w, int j, int g, int t, Tf32Frag2 b)
    {
        int tile = w + BOffset + 8 * j;
        emu[tile + t * 32 + g] = Tf32Fragment.RoundTf32(b.X0);
        emu[tile + (t + 4) * 32 + g] = Tf32Fragment.RoundTf32(b.X1);
    }
}
