using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Sparkle.Tensors.Cpu.Conv;

/// <summary>Reads weight element (index i along the panel dimension, reduction index p) of one group.</summary>
internal interface IWeightSource<T>
{
    int Count { get; }
    int K { get; }
    T Get(int i, int p);
}

/// <summary>A weight tensor (O, Cg, KH, KW) with any strides.</summary>
internal readonly record struct WeightView<T>(T[] Data, int Offset, int SO, int SC, int SH, int SW, int KH, int KW) where T : unmanaged
{
    public static WeightView<T> Of(Tensor w) => new(CpuBackend.Data<T>(w), w.Offset, w.Stride(0), w.Stride(1), w.Stride(2), w.Stride(3), w.Size(2), w.Size(3));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public T At(int o, int c, int tap) => Data[Offset + o * SO + c * SC + tap / KW * SH + tap % KW * SW];
}

/// <summary>The four orientations the passes need, for group g. "Out" indexes the group's output channels,
/// "In" the (c, tap) or (tap, c) reduction of an output.</summary>
internal static class WeightSources
{
    /// <summary>Rows o, k = (c, kh, kw): forward with channels-first activations.</summary>
    public readonly struct OutByCTap<T>(WeightView<T> w, int o0, int og, int cg) : IWeightSource<T> where T : unmanaged
    {
        public int Count => og;
        public int K => cg * w.KH * w.KW;
        public T Get(int i, int p) { int taps = w.KH * w.KW; return w.At(o0 + i, p / taps, p % taps); }
    }

    /// <summary>Columns o, k = (kh, kw, c): forward with channels-last activations.</summary>
    public readonly struct OutByTapC<T>(WeightView<T> w, int o0, int og, int cg) : IWeightSource<T> where T : unmanaged
    {
        public int Count => og;
        public int K => cg * w.KH * w.KW;
        public T Get(int i, int p) => w.At(o0 + i, p % cg, p / cg);
    }

    /// <summary>Rows (c, kh, kw), k = o: input gradient with channels-first activations.</summary>
    public readonly struct CTapByOut<T>(WeightView<T> w, int o0, int og, int cg) : IWeightSource<T> where T : unmanaged
    {
        public int Count => cg * w.KH * w.KW;
        public int K => og;
        public T Get(int i, int p) { int taps = w.KH * w.KW; return w.At(o0 + p, i / taps, i % taps); }
    }

    /// <summary>Columns (kh, kw, c), k = o: input gradient with channels-last activations.</summary>
    public readonly struct TapCByOut<T>(WeightView<T> w, int o0, int og, int cg) : IWeightSource<T> where T : unmanaged
    {
        public int Count => cg * w.KH * w.KW;
        public int K => og;
        public T Get(int i, int p) => w.At(o0 + p, i % cg, i / cg);
    }
}

/// <summary>Packs weights once per call into the <see cref="Prepacked{T}"/> layout, one group after another.</summary>
internal static class WeightPacking
{
    /// <summary>Elements one group occupies for panel width w.</summary>
    public static int GroupSize(int count, int k, int w) => (count + w - 1) / w * w * k;

    /// <summary>Packs <paramref name="src"/> into data[start..] for k blocks of <paramref name="kcStep"/>.</summary>
    public static void Pack<T, TS>(in TS src, int w, int kcStep, T[] data, int start) where T : unmanaged where TS : struct, IWeightSource<T>
    {
        int count = src.Count, k = src.K, extent = (count + w - 1) / w * w;
        ref T d0 = ref MemoryMarshal.GetArrayDataReference(data);
        for (int p0 = 0; p0 < k; p0 += kcStep)
        {
            int kc = Math.Min(kcStep, k - p0);
            for (int i0 = 0; i0 < extent; i0 += w)
            {
                ref T d = ref Unsafe.Add(ref d0, start + (nint)p0 * extent + (nint)i0 * kc);
                int valid = Math.Min(w, count - i0);
                for (int p = 0; p < kc; p++)
                {
                    ref T row = ref Unsafe.Add(ref d, p * w);
                    for (int r = 0; r < valid; r++) Unsafe.Add(ref row, r) = src.Get(i0 + r, p0 + p);
                    for (int r = valid; r < w; r++) Unsafe.Add(ref row, r) = default;
                }
            }
        }
    }
}
