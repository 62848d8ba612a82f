using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Sparkle.Tensors.Cpu.Conv;

/// <summary>Weight element (index i along the panel dimension, reduction index p) of one group lies at
/// Data[IndexOfI(i) + IndexOfP(p)]: a weight view's index is a sum of per-axis terms, and each orientation puts every
/// axis on one side, so the packer computes the two tables once and gathers without a division per element.</summary>
internal interface IWeightSource<T>
{
    int Count { get; }
    int K { get; }
    T[] Data { get; }
    int IndexOfI(int i);
    int IndexOfP(int p);
}

/// <summary>A weight tensor (O, Cg, KH, KW) with any strides.</summary>
internal readonly record struct WeightView<T>(T[] Data, int Offset, int SO, int SC, int SH, int SW, int KH, int KW) where T : unmanaged
{
    public static WeightView<T> Of(Tensor w) => new(CpuBackend.Data<T>(w), w.Offset, w.Stride(0), w.Stride(1), w.Stride(2), w.Stride(3), w.Size(2), w.Size(3));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public T At(int o, int c, int tap) => Data[Offset + o * SO + c * SC + tap / KW * SH + tap % KW * SW];

    /// <summary>The index term of a tap (kh·KW + kw).</summary>
    public int TapIndex(int tap) => tap / KW * SH + tap % KW * SW;
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
        public T[] Data => w.Data;
        public int IndexOfI(int i) => w.Offset + (o0 + i) * w.SO;
        public int IndexOfP(int p) { int taps = w.KH * w.KW; return p / taps * w.SC + w.TapIndex(p % taps); }
    }

    /// <summary>Columns o, k = (kh, kw, c): forward with channels-last activations.</summary>
    public readonly struct OutByTapC<T>(WeightView<T> w, int o0, int og, int cg) : IWeightSource<T> where T : unmanaged
    {
        public int Count => og;
        public int K => cg * w.KH * w.KW;
        public T[] Data => w.Data;
        public int IndexOfI(int i) => w.Offset + (o0 + i) * w.SO;
        public int IndexOfP(int p) => p % cg * w.SC + w.TapIndex(p / cg);
    }

    /// <summary>Rows (c, kh, kw), k = o: input gradient with channels-first activations.</summary>
    public readonly struct CTapByOut<T>(WeightView<T> w, int o0, int og, int cg) : IWeightSource<T> where T : unmanaged
    {
        public int Count => cg * w.KH * w.KW;
        public int K => og;
        public T[] Data => w.Data;
        public int IndexOfI(int i) { int taps = w.KH * w.KW; return i / taps * w.SC + w.TapIndex(i % taps); }
        public int IndexOfP(int p) => w.Offset + (o0 + p) * w.SO;
    }

    /// <summary>Columns (kh, kw, c), k = o: input gradient with channels-last activations.</summary>
    public readonly struct TapCByOut<T>(WeightView<T> w, int o0, int og, int cg) : IWeightSource<T> where T : unmanaged
    {
        public int Count => cg * w.KH * w.KW;
        public int K => og;
        public T[] Data => w.Data;
        public int IndexOfI(int i) => i % cg * w.SC + w.TapIndex(i / cg);
        public int IndexOfP(int p) => w.Offset + (o0 + p) * w.SO;
    }
}

/// <summary>Packs weights once per call into the <see cref="Prepacked{T}"/> layout, one group after another.</summary>
internal static class WeightPacking
{
    /// <summary>Elements one group occupies for panel width w.</summary>
    public static int GroupSize(int count, int k, int w) => (count + w - 1) / w * w * k;

    /// <summary>Packs <paramref name="src"/> into data[start..] for k blocks of <paramref name="kcStep"/>. Large weights
    /// are packed over the pool, one item per (k block, panel): ResNet's 3x3 c256 forward packed 590 K elements on one
    /// thread at ~12 ns each (4 divisions per element), a third of the call at batch 16.</summary>
    public static void Pack<T, TS>(in TS src, int w, int kcStep, T[] data, int start) where T : unmanaged where TS : struct, IWeightSource<T>
    {
        int count = src.Count, k = src.K, extent = (count + w - 1) / w * w;
        if (count == 0 || k == 0) return;
        var rowIndex = new int[count];
        for (int i = 0; i < count; i++) rowIndex[i] = src.IndexOfI(i);
        var colIndex = new int[k];
        for (int p = 0; p < k; p++) colIndex[p] = src.IndexOfP(p);
        var source = src.Data;
        int blocks = (k + kcStep - 1) / kcStep, panels = extent / w;
        void Item(int item)
        {
            int p0 = item / panels * kcStep, i0 = item % panels * w, kc = Math.Min(kcStep, k - p0);
            int valid = Math.Min(w, count - i0);
            ref T s0 = ref MemoryMarshal.GetArrayDataReference(source);
            ref int ri = ref rowIndex[i0];
            ref T d = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(data), start + (nint)p0 * extent + (nint)i0 * kc);
            for (int p = 0; p < kc; p++)
            {
                ref T row = ref Unsafe.Add(ref d, p * w);
                ref T sp = ref Unsafe.Add(ref s0, colIndex[p0 + p]);
                for (int r = 0; r < valid; r++) Unsafe.Add(ref row, r) = Unsafe.Add(ref sp, Unsafe.Add(ref ri, r));
                for (int r = valid; r < w; r++) Unsafe.Add(ref row, r) = default;
            }
        }
        if ((long)extent * k >= ParallelElements) IntraOpPool.For(blocks * panels, Item);
        else for (int item = 0; item < blocks * panels; item++) Item(item);
    }

    /// <summary>Below this many packed elements one thread packs (a fork/join costs a few µs).</summary>
    private const long ParallelElements = 64 * 1024;
}
