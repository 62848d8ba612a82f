using FsCheck;
using FsCheck.Fluent;

// Every [Property] in this assembly draws its long arguments (the seeds) from Seeds.Int64: uniform over all of int64.
[assembly: FsCheck.Xunit.Properties(Arbitrary = [typeof(Sparkle.Tests.Support.Seeds)])]

namespace Sparkle.Tests.Support;

/// <summary>
/// The seed space of the property tests. A property takes <c>long seed</c> and builds its case from
/// <c>new SeededRandom(seed)</c>. FsCheck's default long generator is size-bounded (|seed| ≤ 100 at the default size),
/// so this Arbitrary replaces it with a uniform draw over the whole int64 range, and does not shrink (a smaller seed
/// is just another case). A failure prints the seed ("Original: 123…"): to replay, call the property method with it
/// from a [Fact], or pin the whole FsCheck run with [Property(Replay = "(…)")] from the "Replay" line it prints.
/// </summary>
public static class Seeds
{
    public static Arbitrary<long> Int64() => Arb.From(
        from hi in Gen.Choose(int.MinValue, int.MaxValue)
        from lo in Gen.Choose(int.MinValue, int.MaxValue)
        select ((long)hi << 32) | (uint)lo);
}
