using Sparkle.Tensors;

namespace Sparkle.Data;

/// <summary>
/// The random stream of one sample: a <see cref="Generator"/> whose seed is derived from (run seed, epoch, position
/// of the sample in that epoch's order), so an augmentation never depends on which thread made it or in what order.
/// Every draw consumes one Philox counter and maps it with <see cref="PhiloxSampling"/> (docs/random.md).
/// </summary>
public sealed class SampleRandom
{
    /// <summary>Domain tag in the derivation's counter, so data streams never coincide with the main stream's blocks.</summary>
    private const uint DataTag = 0xDA7A5EED;

    public SampleRandom(Generator generator) { Generator = generator ?? throw new ArgumentNullException(nameof(generator)); }

    public SampleRandom(ulong seed, long epoch, long position) : this(new Generator(DeriveSeed(seed, epoch, position))) { }

    public Generator Generator { get; }

    /// <summary>The per-sample seed: the 64-bit word X0 + 2^32 X1 of Philox4x32-10 keyed by <paramref name="seed"/> at the
    /// 128-bit counter (position low, position high, epoch, tag). Distinct (epoch, position) give distinct counters.</summary>
    public static ulong DeriveSeed(ulong seed, long epoch, long position)
    {
        var ctr = new PhiloxBlock((uint)position, (uint)((ulong)position >> 32), (uint)epoch, DataTag ^ (uint)((ulong)epoch >> 32));
        return PhiloxSampling.Bits64(Philox.Generate(ctr, (uint)seed, (uint)(seed >> 32)));
    }

    private PhiloxBlock Next()
    {
        var s = Generator.Advance(1);
        return Philox.At(s.Seed, s.Offset);
    }

    /// <summary>Uniform float64 on [lo, hi) (torch.empty(1).uniform_(lo, hi) in spirit; 53-bit resolution).</summary>
    public double Uniform(double lo, double hi) => PhiloxSampling.UniformDouble(Next(), lo, hi);

    /// <summary>Integer uniform on [lo, hi); hi must exceed lo.</summary>
    public long Randint(long lo, long hi)
    {
        if (hi <= lo) throw new ArgumentException($"Randint: empty range [{lo}, {hi}).");
        return PhiloxSampling.Randint(Next(), lo, (ulong)(hi - lo));
    }

    /// <summary>True with probability p.</summary>
    public bool Bernoulli(double p) => PhiloxSampling.Bernoulli(Next(), p);
}
