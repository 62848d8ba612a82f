using Sparkle.Data;
using Sparkle.Tensors;
using Xunit;

namespace Sparkle.Tests.Data;

/// <summary>Shuffling, filling, worker-count independence, resuming, early stop.</summary>
public class DataLoaderTests
{
    private static ArrayImageDataset Synthetic(int n, int side = 12)
    {
        var px = new byte[n * side * side];
        var lb = new byte[n];
        var rng = new Random(42);
        rng.NextBytes(px);
        for (int i = 0; i < n; i++) lb[i] = (byte)(i % 10);
        return new ArrayImageDataset("synthetic", px, n, side, side, 1, lb, FashionMnist.ClassNames);
    }

    private static List<(int E, int I, float[] X, long[] Y, int[] Idx)> Collect(IEnumerable<Batch> batches) =>
        batches.Select(b => (b.Epoch, b.Iteration, b.Images.ToArray<float>(), b.Labels!.ToArray<long>(), b.Indices)).ToList();

    private static void AssertSame(List<(int E, int I, float[] X, long[] Y, int[] Idx)> a, List<(int E, int I, float[] X, long[] Y, int[] Idx)> b)
    {
        Assert.Equal(a.Count, b.Count);
        for (int k = 0; k < a.Count; k++)
        {
            Assert.Equal((a[k].E, a[k].I), (b[k].E, b[k].I));
            Assert.Equal(a[k].Idx, b[k].Idx);
            Assert.Equal(a[k].Y, b[k].Y);
            Assert.True(a[k].X.AsSpan().SequenceEqual(b[k].X), $"batch {k}: pixels differ");
        }
    }

    [Fact]
    public void FillPadsWithTheEpochsOwnFirstEntries()
    {
        using var loader = new DataLoader(Synthetic(23), new PretrainTransform(8), new LoaderOptions { BatchSize = 5, Seed = 1 });
        Assert.Equal(5, loader.IterationsPerEpoch);
        var order = loader.EpochOrder(3);
        var perm = Tensor.Randperm(23, new Generator(1 + 3)).ToArray<long>().Select(v => (int)v).ToArray();
        Assert.Equal(perm.Concat(perm.Take(2)), order);
        Assert.NotEqual(order, loader.EpochOrder(4));

        using var drop = new DataLoader(Synthetic(23), new PretrainTransform(8), new LoaderOptions { BatchSize = 5, LastBatch = LastBatch.Drop });
        Assert.Equal(4, drop.IterationsPerEpoch);
        using var keep = new DataLoader(Synthetic(23), new PretrainTransform(8), new LoaderOptions { BatchSize = 5, LastBatch = LastBatch.Keep, Workers = 0 });
        Assert.Equal(3, keep.Epoch(0).Last().Count);
    }

    [Fact]
    public void BatchesHaveShapeDtypeAndLabels()
    {
        var set = Synthetic(40);
        using var loader = new DataLoader(set, new PretrainTransform(16), new LoaderOptions { BatchSize = 8, Workers = 2 });
        var b = loader.Epoch(0).First();
        Assert.Equal([8, 3, 16, 16], b.Images.ShapeArray());
        Assert.Equal(DType.Float32, b.Images.DType);
        Assert.Equal(DType.Int64, b.Labels!.DType);
        Assert.Equal(b.Indices.Select(i => (long)set.Label(i)), b.Labels.ToArray<long>());
    }

    [Fact]
    public void SameBatchesForOneOrThreeWorkersOrNone()
    {
        var set = Synthetic(50);
        var t = new PretrainTransform(10);
        List<(int, int, float[], long[], int[])> Run(int workers, int prefetch)
        {
            using var loader = new DataLoader(set, t, new LoaderOptions { BatchSize = 7, Seed = 5, Workers = workers, Prefetch = prefetch });
            return Collect(loader.Batches(0, 0, 2));
        }
        var one = Run(1, 1);
        Assert.Equal(16, one.Count);
        AssertSame(one, Run(3, 4));
        AssertSame(one, Run(0, 1));
    }

    [Fact]
    public void ResumingMidEpochEqualsTheUninterruptedRun()
    {
        var set = Synthetic(30);
        var t = new PretrainTransform(8);
        var opts = new LoaderOptions { BatchSize = 4, Seed = 9, Workers = 2 };
        List<(int, int, float[], long[], int[])> full;
        using (var loader = new DataLoader(set, t, opts)) full = Collect(loader.Batches(0, 0, 3));
        Assert.Equal(24, full.Count);
        // stop after 10 batches (mid epoch 1), then resume in a fresh loader at epoch 1, iteration 2
        List<(int, int, float[], long[], int[])> first, rest;
        using (var loader = new DataLoader(set, t, opts)) first = Collect(loader.Batches(0, 0, 3).Take(10));
        using (var loader = new DataLoader(set, t, opts with { Workers = 3 })) rest = Collect(loader.Batches(1, 2, 3));
        AssertSame(full, first.Concat(rest).ToList());
        using (var loader = new DataLoader(set, t, opts)) AssertSame(full.Skip(13).Take(1).ToList(), Collect([loader.GetBatch(1, 5)]));
    }

    [Fact]
    public void DifferentSeedsShuffleDifferently()
    {
        var set = Synthetic(30);
        using var a = new DataLoader(set, new PretrainTransform(8), new LoaderOptions { Seed = 1 });
        using var b = new DataLoader(set, new PretrainTransform(8), new LoaderOptions { Seed = 2 });
        Assert.NotEqual(a.EpochOrder(0), b.EpochOrder(0));
        Assert.Equal(a.EpochOrder(1), b.EpochOrder(0)); // SparK seeds epoch e with seed + e
    }

    [Fact]
    public void DisposingStopsTheWorkers()
    {
        var loader = new DataLoader(Synthetic(100), new PretrainTransform(8), new LoaderOptions { BatchSize = 4, Workers = 3 });
        using (var e = loader.Batches().GetEnumerator())
        {
            Assert.True(e.MoveNext());
            Assert.True(e.MoveNext());
        }
        loader.Dispose();
        Assert.Throws<ObjectDisposedException>(() => loader.Batches().First());
    }

    [Fact]
    public void TransformErrorsReachTheConsumer()
    {
        using var loader = new DataLoader(Synthetic(10), new Throwing(() => new ArithmeticException("boom")), new LoaderOptions { BatchSize = 2, Workers = 2 });
        var e = Assert.Throws<InvalidOperationException>(() => loader.Epoch(0).ToList());
        Assert.Contains("boom", e.Message);
        // A data error (a strict ImageFolder's bad file) stays one, so the CLI reports it as bad input.
        using var strict = new DataLoader(Synthetic(10), new Throwing(() => new InvalidDataException("bad file")), new LoaderOptions { BatchSize = 2, Workers = 2 });
        var d = Assert.Throws<InvalidDataException>(() => strict.Epoch(0).ToList());
        Assert.Contains("bad file", d.Message);
    }

    private sealed class Throwing(Func<Exception> error) : ISampleTransform
    {
        public int OutputSize => 4;
        public void Apply(DecodedImage image, SampleRandom random, Span<float> dst) => throw error();
    }
}
