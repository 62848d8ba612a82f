using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Sparkle.Tensors.Cpu.Conv;

/// <summary>
/// A zero-padded channels-last copy of a window of one image: element (r, w, c) at (r·Cols + w)·Channels + c holds
/// src[n, c0 + c, row0 + r, col0 + w], or 0 where that position lies outside the image. Built from either layout
/// (a row copy for channels-last, a transpose for channels-first), so the kernels reading it see one layout and
/// never check bounds.
/// </summary>
internal static class Slab
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Build<T>(Act<T> src, int n, int c0, int channels, int row0, int rows, int col0, int cols, int h, int w, ref T dst) where T : unmanaged
        => Build(src, n, c0, channels, channels, row0, rows, col0, cols, h, w, ref dst);

    /// <summary>As above with pixels <paramref name="stride"/> ≥ channels apart (the gap zero-filled), so that vectors
    /// over the channels of a pixel never straddle into the next.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Build<T>(Act<T> src, int n, int c0, int channels, int stride, int row0, int rows, int col0, int cols, int h, int w, ref T dst) where T : unmanaged
    {
        ref T s0 = ref MemoryMarshal.GetArrayDataReference(src.Data);
        int wLo = Math.Clamp(-col0, 0, cols), wHi = Math.Clamp(w - col0, wLo, cols);
        int rowSize = cols * stride;
        for (int r = 0; r < rows; r++)
        {
            ref T d = ref Unsafe.Add(ref dst, (nint)r * rowSize);
            int ih = row0 + r;
            if ((uint)ih >= (uint)h) { Runs.Clear(ref d, rowSize); continue; }
            Runs.Clear(ref d, wLo * stride);
            Runs.Clear(ref Unsafe.Add(ref d, wHi * stride), (cols - wHi) * stride);
            int valid = wHi - wLo;
            if (valid <= 0) continue;
            int baseIdx = src.Offset + n * src.SN + c0 * src.SC + ih * src.SH + (col0 + wLo) * src.SW;
            ref T s = ref Unsafe.Add(ref s0, baseIdx);
            ref T dd = ref Unsafe.Add(ref d, wLo * stride);
            if (stride > channels)
                for (int x = 0; x < valid; x++) Runs.Clear(ref Unsafe.Add(ref dd, x * stride + channels), stride - channels);
            if (src.SC == 1 || channels == 1)
            {
                if (src.SW == channels && stride == channels) Runs.Copy(ref s, ref dd, valid * channels);
                else
                    for (int x = 0; x < valid; x++)
                        Runs.Copy(ref Unsafe.Add(ref s, x * src.SW), ref Unsafe.Add(ref dd, x * stride), channels);
            }
            else
            {
                // Channels-first: a transpose of the (channels x valid) block.
                if (src.SW == 1)
                {
                    Transpose.Run(ref s, src.SC, ref dd, stride, channels, valid);
                    continue;
                }
                for (int c = 0; c < channels; c++)
                {
                    ref T sc = ref Unsafe.Add(ref s, c * src.SC);
                    ref T dc = ref Unsafe.Add(ref dd, c);
                    if (src.SW == 1)
                        for (int x = 0; x < valid; x++) Unsafe.Add(ref dc, x * stride) = Unsafe.Add(ref sc, x);
                    else
                        for (int x = 0; x < valid; x++) Unsafe.Add(ref dc, x * stride) = Unsafe.Add(ref sc, x * src.SW);
                }
            }
        }
    }
}
