using Sparkle.Tensors.Backend;

namespace Sparkle.Tensors.Cpu;

public sealed partial class CpuBackend
{
    /// <summary>Element i of dst gets the sample of Philox.At(seed, offset + i) (docs/random.md). Chunks of
    /// elements run on the intra-op pool; since no element depends on another, thread count cannot matter.</summary>
    public void Random(RandomSpec spec, Tensor dst, ulong seed, ulong offset)
    {
        if (!dst.IsContiguous)
            throw new ArgumentException($"Random: dst must be contiguous, got shape {ShapeUtil.Format(dst.Shape)} strides {ShapeUtil.Format(dst.Strides)}.");
        switch (dst.DType)
        {
            case DType.Float32: RandomTyped<float>(spec, dst, seed, offset); break;
            case DType.Float64: RandomTyped<double>(spec, dst, seed, offset); break;
            case DType.Int32: RandomTyped<int>(spec, dst, seed, offset); break;
            case DType.Int64: RandomTyped<long>(spec, dst, seed, offset); break;
            case DType.Bool: RandomTyped<bool>(spec, dst, seed, offset); break;
        }
    }

    // Philox costs ~10 ns per element, so chunks of 16K elements keep scheduling overhead below 1%.
    private const int RandomGrain = 1 << 14;

    private static void RandomTyped<T>(RandomSpec spec, Tensor dst, ulong seed, ulong offset) where T : unmanaged
    {
        var data = Data<T>(dst);
        int start = dst.Offset, n = dst.NumElements;
        bool isFloat = typeof(T) == typeof(float), isDouble = typeof(T) == typeof(double);
        if (spec.Kind is RandomKind.Uniform or RandomKind.Normal or RandomKind.TruncatedNormal && !isFloat && !isDouble)
            throw new ArgumentException($"Random {spec.Kind} needs a float32 or float64 tensor, got {dst.DType.Name()}.");
        var trunc = spec.Kind == RandomKind.TruncatedNormal ? PhiloxSampling.TruncNormalSetup(spec.A, spec.B, spec.C, spec.D) : default;
        long low = (long)spec.A;
        ulong range = spec.Kind == RandomKind.Randint ? (ulong)((long)spec.B - low) : 1;
        IntraOpPool.ForRange(n, RandomGrain, (a, b) =>
        {
            var span = data.AsSpan(start + a, b - a);
            ulong c = unchecked(offset + (ulong)a);
            switch (spec.Kind)
            {
                case RandomKind.Uniform when isFloat:
                    for (int i = 0; i < span.Length; i++, c++)
                        span[i] = FromFloat<T>(PhiloxSampling.UniformFloat(Philox.At(seed, c), spec.A, spec.B));
                    break;
                case RandomKind.Uniform:
                    for (int i = 0; i < span.Length; i++, c++)
                        span[i] = FromDouble<T>(PhiloxSampling.UniformDouble(Philox.At(seed, c), spec.A, spec.B));
                    break;
                case RandomKind.Normal:
                    for (int i = 0; i < span.Length; i++, c++)
                        span[i] = FromDouble<T>(PhiloxSampling.Normal(Philox.At(seed, c), spec.A, spec.B));
                    break;
                case RandomKind.TruncatedNormal:
                    for (int i = 0; i < span.Length; i++, c++)
                        span[i] = FromDouble<T>(PhiloxSampling.TruncNormal(Philox.At(seed, c), trunc));
                    break;
                case RandomKind.Bernoulli:
                    for (int i = 0; i < span.Length; i++, c++)
                        span[i] = FromDouble<T>(PhiloxSampling.Bernoulli(Philox.At(seed, c), spec.A) ? 1 : 0);
                    break;
                case RandomKind.Randint:
                    for (int i = 0; i < span.Length; i++, c++)
                        span[i] = FromLong<T>(PhiloxSampling.Randint(Philox.At(seed, c), low, range));
                    break;
                default:
                    throw new ArgumentOutOfRangeException(nameof(spec), $"Unknown random kind {spec.Kind}.");
            }
        });
    }

    private static T FromFloat<T>(float v) where T : unmanaged => System.Runtime.CompilerServices.Unsafe.As<float, T>(ref v);

    /// <summary>Exact for int64 (no detour through double, which would round above 2^53).</summary>
    private static T FromLong<T>(long v) where T : unmanaged =>
        typeof(T) == typeof(long) ? System.Runtime.CompilerServices.Unsafe.As<long, T>(ref v) : FromDouble<T>(v);
}
