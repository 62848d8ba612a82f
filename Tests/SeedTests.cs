using FsCheck.Fluent;
using Sparkle.Tests.Support;
using Xunit;

namespace Sparkle.Tests;

/// <summary>The property tests' seed space (Tests/Support/Seeds.cs) and their 64-bit seeded Random.</summary>
public class SeedTests
{
    [Fact]
    public void SeedsSpanTheWholeInt64Range()
    {
        var seeds = Seeds.Int64().Generator.Sample(400, 10);
        Assert.Equal(400, seeds.Distinct().Count());
        // Uniform over int64: about half the seeds have |seed| >= 2^62, both signs, none in the size-bounded range.
        Assert.InRange(seeds.Count(s => s >= 1L << 62 || s < -(1L << 62)), 140, 260);
        Assert.InRange(seeds.Count(s => s < 0), 140, 260);
        Assert.DoesNotContain(seeds, s => Math.Abs(s) <= 1000);
    }

    [Fact]
    public void OppositeAndHighBitSeedsGiveDifferentStreams()
    {
        static int[] Draw(long s) { var r = new SeededRandom(s); return [.. Enumerable.Range(0, 8).Select(_ => r.Next())]; }
        Assert.NotEqual(Draw(12345), Draw(-12345));                     // new Random(int) takes |seed|: these would agree
        Assert.NotEqual(Draw(7), Draw(7 + (1L << 40)));                // bits above 32 matter
        Assert.Equal(Draw(long.MinValue), Draw(long.MinValue));        // and a seed replays its stream
    }

    [Fact]
    public void DrawsStayInTheirRanges()
    {
        var r = new SeededRandom(-3);
        var counts = new int[5];
        for (int i = 0; i < 5000; i++)
        {
            int k = r.Next(-2, 3);
            Assert.InRange(k, -2, 2);
            counts[k + 2]++;
            double u = r.NextDouble();
            Assert.True(u >= 0 && u < 1);
            Assert.InRange(r.Next(7), 0, 6);
            Assert.InRange(r.NextInt64(long.MinValue, long.MaxValue), long.MinValue, long.MaxValue - 1);
        }
        Assert.All(counts, c => Assert.InRange(c, 850, 1150));
        Assert.Equal(0, r.Next(0));
        Assert.Equal(5, r.Next(5, 5));
    }
}
