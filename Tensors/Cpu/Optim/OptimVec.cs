using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Sparkle.Tensors.Cpu.Optim;

/// <summary>
/// The few operations the optimizer updates need, for Vector512, Vector256 and a single element, so that each update is
/// written once (<see cref="IOptimBody{T}"/>) and runs as vectors over the bulk and element by element over the tail with
/// the same operations: every lane rounds as the scalar code does (no FMA contraction), so the bits do not depend on the
/// vector width or on where a chunk starts.
/// </summary>
internal interface IOptimVec<T, TV> where T : unmanaged where TV : struct
{
    static abstract int Count { get; }
    static abstract TV Load(T[] a, int i);
    static abstract void Store(TV v, T[] a, int i);
    static abstract TV Splat(T x);
    static abstract TV Add(TV a, TV b);
    static abstract TV Mul(TV a, TV b);
    static abstract TV Div(TV a, TV b);
    static abstract TV Sqrt(TV x);
}

internal readonly struct OptimV512<T> : IOptimVec<T, Vector512<T>> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static int Count => Vector512<T>.Count;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> Load(T[] a, int i) => Vector512.LoadUnsafe(ref Elementwise.ElementData.At(a, i));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector512<T> v, T[] a, int i) => v.StoreUnsafe(ref Elementwise.ElementData.At(a, i));
    public static Vector512<T> Splat(T x) => Vector512.Create(x);
    public static Vector512<T> Add(Vector512<T> a, Vector512<T> b) => a + b;
    public static Vector512<T> Mul(Vector512<T> a, Vector512<T> b) => a * b;
    public static Vector512<T> Div(Vector512<T> a, Vector512<T> b) => a / b;
    public static Vector512<T> Sqrt(Vector512<T> x) => Vector512.Sqrt(x);
}

internal readonly struct OptimV256<T> : IOptimVec<T, Vector256<T>> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static int Count => Vector256<T>.Count;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> Load(T[] a, int i) => Vector256.LoadUnsafe(ref Elementwise.ElementData.At(a, i));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector256<T> v, T[] a, int i) => v.StoreUnsafe(ref Elementwise.ElementData.At(a, i));
    public static Vector256<T> Splat(T x) => Vector256.Create(x);
    public static Vector256<T> Add(Vector256<T> a, Vector256<T> b) => a + b;
    public static Vector256<T> Mul(Vector256<T> a, Vector256<T> b) => a * b;
    public static Vector256<T> Div(Vector256<T> a, Vector256<T> b) => a / b;
    public static Vector256<T> Sqrt(Vector256<T> x) => Vector256.Sqrt(x);
}

internal readonly struct OptimScalar<T> : IOptimVec<T, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static int Count => 1;
    public static T Load(T[] a, int i) => a[i];
    public static void Store(T v, T[] a, int i) => a[i] = v;
    public static T Splat(T x) => x;
    public static T Add(T a, T b) => a + b;
    public static T Mul(T a, T b) => a * b;
    public static T Div(T a, T b) => a / b;
    public static T Sqrt(T x) => T.Sqrt(x);
}

/// <summary>An elementwise update: element block i (Count elements of TO) of a chunk.</summary>
internal interface IOptimBody<T> where T : unmanaged
{
    void Run<TV, TO>(int i) where TV : struct where TO : IOptimVec<T, TV>;
}

internal static class OptimLoop
{
    /// <summary>Elements per work item: the CPU reduction's summation chunk (ReducePlan.ChunkElements), so that the sums of
    /// squares taken chunk by chunk add up in the order Tensor.Sum uses (the same bits).</summary>
    public const int Chunk = Reduce.ReducePlan.ChunkElements;

    /// <summary>body.Run over [start, end): vectors of the policy's width, then single elements.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Run<T, TB>(ref TB body, int start, int end) where T : unmanaged, IFloatingPointIeee754<T> where TB : struct, IOptimBody<T>
    {
        int i = start;
        if (Elementwise.SimdPolicy.UseVector512)
            for (int w = Vector512<T>.Count; i <= end - w; i += w) body.Run<Vector512<T>, OptimV512<T>>(i);
        else
            for (int w = Vector256<T>.Count; i <= end - w; i += w) body.Run<Vector256<T>, OptimV256<T>>(i);
        for (; i < end; i++) body.Run<T, OptimScalar<T>>(i);
    }

    /// <summary>One tensor of <paramref name="n"/> elements: body over chunks in parallel.</summary>
    public static void Chunked<T, TB>(TB body, int n) where T : unmanaged, IFloatingPointIeee754<T> where TB : struct, IOptimBody<T>
    {
        int chunks = (n + Chunk - 1) / Chunk;
        if (chunks <= 1) { Run<T, TB>(ref body, 0, n); return; }
        IntraOpPool.For(chunks, c =>
        {
            var b = body;
            Run<T, TB>(ref b, c * Chunk, Math.Min(n, (c + 1) * Chunk));
        });
    }

    /// <summary>The work items of a list of tensors of the given lengths: (tensor, chunk) pairs, chunks of <see cref="Chunk"/>
    /// elements (an empty tensor gets one empty chunk, so every tensor has a partial sum).</summary>
    public static (int Tensor, int Start, int End)[] Items(IReadOnlyList<int> lengths)
    {
        var items = new List<(int, int, int)>();
        for (int t = 0; t < lengths.Count; t++)
        {
            int n = lengths[t];
            if (n == 0) { items.Add((t, 0, 0)); continue; }
            for (int s = 0; s < n; s += Chunk) items.Add((t, s, Math.Min(n, s + Chunk)));
        }
        return [.. items];
    }
}
