using Sparkle.Tensors;

namespace Sparkle.Tests.Support;

/// <summary>
/// A <see cref="Random"/> with a 64-bit seed: word k of the stream is Philox4x32-10 block k under the seed
/// (docs/random.md), so every one of the 2^64 seeds gives its own stream. <c>new Random(int)</c> cannot serve
/// property tests: it takes |seed| (and int.MinValue as int.MaxValue), so seeds s and −s replay the same case.
/// Every Random method is overridden (a derived Random's base methods would otherwise mix in the legacy generator).
/// </summary>
public sealed class SeededRandom(long seed) : Random
{
    private readonly ulong _seed = (ulong)seed;
    private ulong _counter;

    public long Seed => (long)_seed;

    private ulong NextUInt64()
    {
        var b = Philox.At(_seed, _counter++);
        return b.X0 | ((ulong)b.X1 << 32);
    }

    /// <summary>Uniform in [0, n) without modulo bias (Lemire's multiply-shift with rejection).</summary>
    private ulong Below(ulong n)
    {
        if (n == 0) return 0;
        while (true)
        {
            ulong x = NextUInt64();
            ulong hi = Math.BigMul(x, n, out ulong lo);
            if (lo >= n || lo >= (0 - n) % n) return hi;
        }
    }

    protected override double Sample() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));
    public override double NextDouble() => Sample();
    public override float NextSingle() => (NextUInt64() >> 40) * (1.0f / (1 << 24));
    public override int Next() => (int)Below(int.MaxValue);

    public override int Next(int maxValue)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxValue);
        return (int)Below((ulong)maxValue);
    }

    public override int Next(int minValue, int maxValue)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(minValue, maxValue);
        return (int)(minValue + (long)Below((ulong)((long)maxValue - minValue)));
    }

    public override long NextInt64() => (long)Below(long.MaxValue);

    public override long NextInt64(long maxValue)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxValue);
        return (long)Below((ulong)maxValue);
    }

    public override long NextInt64(long minValue, long maxValue)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(minValue, maxValue);
        return minValue + (long)Below((ulong)(maxValue - minValue));
    }

    public override void NextBytes(byte[] buffer) => NextBytes(buffer.AsSpan());

    public override void NextBytes(Span<byte> buffer)
    {
        for (int i = 0; i < buffer.Length; i += 8)
        {
            ulong x = NextUInt64();
            for (int k = 0; k < 8 && i + k < buffer.Length; k++) buffer[i + k] = (byte)(x >> (8 * k));
        }
    }
}
