using Sparkle.Data;
using Xunit;

namespace Sparkle.Tests.Data;

/// <summary>Issue 20 (the mutation table's loader-rank-chunk survived every CI test): data-parallel sampling (SPARK.md §5.5,
/// LoaderOptions.Rank/WorldSize) splits each epoch's filled order into N contiguous chunks, rank r takes chunk r in
/// batches of B/N. So rank 0's epoch, then rank 1's, ... is exactly the single-process epoch: the same dataset indices
/// at the same positions, with the same per-position augmentation — no overlap, nothing left out.</summary>
public class LoaderRankChunkTests
{
    private static ArrayImageDataset Synthetic(int n, int side = 10)
    {
        var px = new byte[n * side * side];
        new Random(7).NextBytes(px);
        var lb = new byte[n];
        for (int i = 0; i < n; i++) lb[i] = (byte)(i % 10);
        return new ArrayImageDataset("synthetic", px, n, side, side, 1, lb, FashionMnist.ClassNames);
    }

    private static (List<int> Indices, List<float> Pixels, int Batches) Epoch(ArrayImageDataset set, LoaderOptions o, int epoch)
    {
        using var loader = new DataLoader(set, new PretrainTransform(8), o);
        var indices = new List<int>();
        var pixels = new List<float>();
        int batches = 0;
        foreach (var b in loader.Epoch(epoch))
        {
            Assert.Equal(o.BatchSize / o.WorldSize, b.Count);
            indices.AddRange(b.Indices);
            pixels.AddRange(b.Images.ToArray<float>());
            batches++;
        }
        Assert.Equal(loader.IterationsPerEpoch, batches);
        return (indices, pixels, batches);
    }

    [Theory]
    [InlineData(23, 6, 2, LastBatch.Fill)]
    [InlineData(23, 6, 3, LastBatch.Fill)]
    [InlineData(29, 4, 2, LastBatch.Drop)]
    public void RanksTogetherAreTheSingleProcessEpoch(int n, int globalBatch, int world, LastBatch last)
    {
        var set = Synthetic(n);
        var single = new LoaderOptions { BatchSize = globalBatch, Seed = 5, LastBatch = last, Workers = 0 };
        var whole = Epoch(set, single, epoch: 2);
        var indices = new List<int>();
        var pixels = new List<float>();
        for (int r = 0; r < world; r++)
        {
            var part = Epoch(set, single with { Rank = r, WorldSize = world }, epoch: 2);
            Assert.Equal(whole.Batches, part.Batches);                    // every rank steps the same number of times
            indices.AddRange(part.Indices);
            pixels.AddRange(part.Pixels);
        }
        Assert.Equal(whole.Indices, indices);
        Assert.True(whole.Pixels.SequenceEqual(pixels), "a position's augmentation differs between the ranks' chunks and the single-process epoch");
    }
}
