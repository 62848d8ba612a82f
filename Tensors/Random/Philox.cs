using System.Runtime.CompilerServices;

// Namespace Sparkle.Tensors (not .Random): a namespace named Random would hide System.Random
// from every file under Sparkle.Tensors.
namespace Sparkle.Tensors;

/// <summary>Four 32-bit words: a Philox counter or one Philox output block.</summary>
public readonly record struct PhiloxBlock(uint X0, uint X1, uint X2, uint X3);

/// <summary>
/// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11; Random123).
/// A pure function of (counter, key): no state, so any element of a stream can be computed on its own,
/// by any thread or device, in any order. Word order matches Random123's kat_vectors: counter words
/// X0..X3 and key words k0, k1 are listed first to last, and so are the output words.
/// </summary>
public static class Philox
{
    private const uint M0 = 0xD2511F53, M1 = 0xCD9E8D57;   // round multipliers
    private const uint W0 = 0x9E3779B9, W1 = 0xBB67AE85;   // Weyl key increments (golden ratio, sqrt(3)-1)

    /// <summary>Ten Philox rounds of <paramref name="counter"/> under key (k0, k1); the key is bumped by the Weyl
    /// increments before every round but the first. Unrolled by hand: the JIT does not unroll the loop.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static PhiloxBlock Generate(PhiloxBlock counter, uint k0, uint k1)
    {
        uint c0 = counter.X0, c1 = counter.X1, c2 = counter.X2, c3 = counter.X3;
        Round(ref c0, ref c1, ref c2, ref c3, k0, k1);
        Round(ref c0, ref c1, ref c2, ref c3, k0 += W0, k1 += W1);
        Round(ref c0, ref c1, ref c2, ref c3, k0 += W0, k1 += W1);
        Round(ref c0, ref c1, ref c2, ref c3, k0 += W0, k1 += W1);
        Round(ref c0, ref c1, ref c2, ref c3, k0 += W0, k1 += W1);
        Round(ref c0, ref c1, ref c2, ref c3, k0 += W0, k1 += W1);
        Round(ref c0, ref c1, ref c2, ref c3, k0 += W0, k1 += W1);
        Round(ref c0, ref c1, ref c2, ref c3, k0 += W0, k1 += W1);
        Round(ref c0, ref c1, ref c2, ref c3, k0 += W0, k1 += W1);
        Round(ref c0, ref c1, ref c2, ref c3, k0 += W0, k1 += W1);
        return new PhiloxBlock(c0, c1, c2, c3);
    }

    /// <summary>One round: (hi(M1 c2) ^ c1 ^ k0, lo(M1 c2), hi(M0 c0) ^ c3 ^ k1, lo(M0 c0)).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Round(ref uint c0, ref uint c1, ref uint c2, ref uint c3, uint k0, uint k1)
    {
        ulong p0 = (ulong)M0 * c0, p1 = (ulong)M1 * c2;
        uint n0 = (uint)(p1 >> 32) ^ c1 ^ k0, n2 = (uint)(p0 >> 32) ^ c3 ^ k1;
        c1 = (uint)p1;
        c3 = (uint)p0;
        c0 = n0;
        c2 = n2;
    }

    /// <summary>The block for element <paramref name="counter"/> of the stream <paramref name="seed"/>:
    /// key = (low, high) 32 bits of the seed, counter = (low, high) 32 bits of the 64-bit counter, 0, 0.
    /// This is the mapping docs/random.md defines; every device must use it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static PhiloxBlock At(ulong seed, ulong counter) =>
        Generate(new PhiloxBlock((uint)counter, (uint)(counter >> 32), 0, 0), (uint)seed, (uint)(seed >> 32));
}
