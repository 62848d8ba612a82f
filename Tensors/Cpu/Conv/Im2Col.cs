using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Sparkle.Tensors.Cpu.Conv;

// The activation operands of the packed convolution GEMMs (ConvGemm). Each packs straight from the strided
// tensor into the micro-panel layout, computing the im2col element (zero where the window lies in the
// padding) on the fly. "Channels-first" packers need unit stride along W, "channels-last" ones unit stride
// along C (the backend copies an input that has neither).

/// <summary>Forward, channels-first: B[(c, kh, kw), j] = x[n, c0 + c, ih, iw] for output pixel q0 + j of image n.</summary>
internal struct Im2ColPanelNchw<T>(Act<T> x, ConvGeometry g, int n, int c0, int q0) : IPanelB<T> where T : unmanaged
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public ref T Panel(int j0, int cols, int p0, int kc, int nr, ref T scratch)
    {
        var runs = new PixelRuns(stackalloc int[4 * 64], q0 + j0, cols, g.OW);
        int taps = g.Taps, c = p0 / taps, t = p0 % taps, kh = t / g.KW, kw = t % g.KW;
        ref T src0 = ref MemoryMarshal.GetArrayDataReference(x.Data);
        bool unit = g.SW == 1 && x.SW == 1;
        for (int p = 0; p < kc; p++)
        {
            ref T dst = ref Unsafe.Add(ref scratch, p * nr);
            int chan = x.Offset + n * x.SN + (c0 + c) * x.SC;
            int hOff = kh * g.DH - g.PH, wOff = kw * g.DW - g.PW;
            for (int s = 0; s < runs.Count; s++)
            {
                int oh = runs.Data[4 * s], ow = runs.Data[4 * s + 1], len = runs.Data[4 * s + 2], col = runs.Data[4 * s + 3];
                ref T d = ref Unsafe.Add(ref dst, col);
                int ih = oh * g.SH + hOff;
                if ((uint)ih >= (uint)g.H) { Runs.Clear(ref d, len); continue; }
                int iw0 = ow * g.SW + wOff;
                ref T row = ref Unsafe.Add(ref src0, chan + ih * x.SH);
                if (unit)
                {
                    int lo = Math.Clamp(-iw0, 0, len), hi = Math.Clamp(g.W - iw0, lo, len);
                    Runs.Clear(ref d, lo);
                    Runs.Copy(ref Unsafe.Add(ref row, iw0 + lo), ref Unsafe.Add(ref d, lo), hi - lo);
                    Runs.Clear(ref Unsafe.Add(ref d, hi), len - hi);
                }
                else
                {
                    for (int i = 0, iw = iw0; i < len; i++, iw += g.SW)
                        Unsafe.Add(ref d, i) = (uint)iw < (uint)g.W ? Unsafe.Add(ref row, iw * x.SW) : default;
                }
            }
            Runs.Clear(ref Unsafe.Add(ref dst, cols), nr - cols);
            if (++kw == g.KW) { kw = 0; if (++kh == g.KH) { kh = 0; c++; } }
        }
        return ref scratch;
    }
}

/// <summary>Input gradient, channels-first: B[o, j] = dy[n, o0 + o, pixel q0 + j].</summary>
internal struct RowsPanelNchw<T>(Act<T> dy, int ow, int n, int o0, int q0) : IPanelB<T> where T : unmanaged
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public ref T Panel(int j0, int cols, int p0, int kc, int nr, ref T scratch)
    {
        var runs = new PixelRuns(stackalloc int[4 * 64], q0 + j0, cols, ow);
        ref T src0 = ref MemoryMarshal.GetArrayDataReference(dy.Data);
        for (int p = 0; p < kc; p++)
        {
            ref T dst = ref Unsafe.Add(ref scratch, p * nr);
            int chan = dy.Offset + n * dy.SN + (o0 + p0 + p) * dy.SC;
            for (int s = 0; s < runs.Count; s++)
            {
                int oh = runs.Data[4 * s], x = runs.Data[4 * s + 1], len = runs.Data[4 * s + 2], col = runs.Data[4 * s + 3];
                ref T row = ref Unsafe.Add(ref src0, chan + oh * dy.SH);
                if (dy.SW == 1) Runs.Copy(ref Unsafe.Add(ref row, x), ref Unsafe.Add(ref dst, col), len);
                else for (int i = 0; i < len; i++) Unsafe.Add(ref dst, col + i) = Unsafe.Add(ref row, (x + i) * dy.SW);
            }
            Runs.Clear(ref Unsafe.Add(ref dst, cols), nr - cols);
        }
        return ref scratch;
    }
}

/// <summary>Forward, channels-last: A[q, (kh, kw, c)] = x[n, c0 + c, ih, iw] for global output pixel q0 + q
/// (q runs over the whole batch).</summary>
internal struct Im2ColRowsNhwc<T>(Act<T> x, ConvGeometry g, int c0, int q0, int qEnd) : IPanelsA<T> where T : unmanaged
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public ref T Block(int i0, int rows, int p0, int kc, int mr, ref T scratch)
    {
        ref T src0 = ref MemoryMarshal.GetArrayDataReference(x.Data);
        int cg = g.Cg, P = g.P;
        for (int i = 0; i < rows; i += mr)
        {
            ref T panel = ref Unsafe.Add(ref scratch, (nint)i * kc);
            for (int r = 0; r < mr; r++)
            {
                ref T d = ref Unsafe.Add(ref panel, r);
                int q = q0 + i0 + i + r;
                if (i + r >= rows || q >= qEnd) { for (int z = 0; z < kc; z++) Unsafe.Add(ref d, z * mr) = default; continue; }
                int n = q / P, rem = q % P, oh = rem / g.OW, ow = rem % g.OW;
                int pix = x.Offset + n * x.SN + c0 * x.SC;
                int t = p0 / cg, c = p0 % cg, p = 0;
                while (p < kc)
                {
                    int len = Math.Min(cg - c, kc - p);
                    int ih = oh * g.SH - g.PH + t / g.KW * g.DH, iw = ow * g.SW - g.PW + t % g.KW * g.DW;
                    if ((uint)ih < (uint)g.H && (uint)iw < (uint)g.W)
                    {
                        ref T s = ref Unsafe.Add(ref src0, pix + ih * x.SH + iw * x.SW + c);
                        for (int e = 0; e < len; e++) Unsafe.Add(ref d, (p + e) * mr) = Unsafe.Add(ref s, e);
                    }
                    else for (int e = 0; e < len; e++) Unsafe.Add(ref d, (p + e) * mr) = default;
                    p += len; c = 0; t++;
                }
            }
        }
        return ref scratch;
    }
}

/// <summary>Input gradient, channels-last: A[q, o] = dy[n, o0 + o, oh, ow] for pixel q0 + q of image n.</summary>
internal struct RowsNhwc<T>(Act<T> dy, int ow, int n, int o0, int q0, int qEnd) : IPanelsA<T> where T : unmanaged
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public ref T Block(int i0, int rows, int p0, int kc, int mr, ref T scratch)
    {
        ref T src0 = ref MemoryMarshal.GetArrayDataReference(dy.Data);
        for (int i = 0; i < rows; i += mr)
        {
            ref T panel = ref Unsafe.Add(ref scratch, (nint)i * kc);
            for (int r = 0; r < mr; r++)
            {
                ref T d = ref Unsafe.Add(ref panel, r);
                int q = q0 + i0 + i + r;
                if (i + r >= rows || q >= qEnd) { for (int p = 0; p < kc; p++) Unsafe.Add(ref d, p * mr) = default; continue; }
                ref T s = ref Unsafe.Add(ref src0, dy.Offset + n * dy.SN + q / ow * dy.SH + q % ow * dy.SW + (o0 + p0) * dy.SC);
                for (int p = 0; p < kc; p++) Unsafe.Add(ref d, p * mr) = Unsafe.Add(ref s, p);
            }
        }
        return ref scratch;
    }
}
