using Sparkle.Tensors;
using Sparkle.Tensors.Cpu;
using Sparkle.Tests.Support;
using Xunit;

namespace Sparkle.Tests;

public class DeviceTests
{
    private static readonly Device Fake = FakeBackend.Instance.Device;

    [Fact]
    public void ToDeviceRoundTripsEveryDType()
    {
        foreach (var dt in Enum.GetValues<DType>())
        {
            var x = TensorGen.Random(new Random(1), [3, 4], dt).T; // non-contiguous source
            var g = x.To(Fake);
            Assert.Equal(Fake, g.Device);
            Assert.Equal(dt, g.DType);
            var back = g.To(Device.Cpu);
            Assert.Equal(Device.Cpu, back.Device);
            Assert.Equal(TensorGen.Values(x), TensorGen.Values(back));
        }
    }

    [Fact]
    public void MixingDevicesNamesBothDevicesAndShapes()
    {
        var remote = Tensor.Ones([2, 3]).To(Fake);
        var local = Tensor.Ones([3]);
        var ops = new Func<object>[]
        {
            () => local + remote, () => remote * local, () => local.Lt(remote), () => local.Add_(remote),
            () => Tensor.Where(local.Gt(0), local, remote), () => Tensor.Cat([local.Unsqueeze(0).Expand(2, 3), remote], 0),
            () => Tensor.Ones([2, 3]).ScatterAdd(1, Tensor.Zeros([2, 3], DType.Int64), remote),
        };
        foreach (var f in ops)
        {
            var ex = Assert.Throws<InvalidOperationException>(f);
            Assert.Contains("cpu", ex.Message);
            Assert.Contains(Fake.ToString(), ex.Message);
            Assert.Contains("(2, 3)", ex.Message);
        }
    }

    [Fact]
    public void ToSameDeviceIsIdentity()
    {
        var x = Tensor.Zeros([2]);
        Assert.Same(x, x.To(Device.Cpu));
        Assert.Same(x, x.To(DType.Float32));
    }

    [Fact]
    public void UnknownDeviceIsAClearError()
    {
        var e = Assert.Throws<InvalidOperationException>(() => Tensor.Zeros([2], device: new Device(DeviceKind.Cuda, 3)));
        Assert.Contains("cuda:3", e.Message);
    }

    [Fact]
    public void ElementAccessOnAnotherDeviceSaysHowToFixIt()
    {
        var g = Tensor.Zeros([2]).To(Fake);
        var e = Assert.Throws<InvalidOperationException>(() => g.GetDouble(0));
        Assert.Contains("ilgpu-cpu:99", e.Message);
    }
}

public class IntraOpPoolTests
{
    [Fact]
    public void ForRunsEveryItemOnceAndNestsInline()
    {
        int saved = IntraOpPool.NumThreads;
        try
        {
            IntraOpPool.NumThreads = 2;
            var hits = new int[1000];
            IntraOpPool.For(100, i => IntraOpPool.For(10, j => Interlocked.Increment(ref hits[i * 10 + j])));
            Assert.All(hits, h => Assert.Equal(1, h));
        }
        finally { IntraOpPool.NumThreads = saved; }
    }

    [Fact]
    public void ExceptionsPropagateToTheCaller()
    {
        int saved = IntraOpPool.NumThreads;
        try
        {
            IntraOpPool.NumThreads = 2;
            var e = Assert.Throws<InvalidOperationException>(() => IntraOpPool.For(64, i => { if (i == 37) throw new InvalidOperationException("item 37"); }));
            Assert.Equal("item 37", e.Message);
            int count = 0; // the pool still works afterwards
            IntraOpPool.For(64, _ => Interlocked.Increment(ref count));
            Assert.Equal(64, count);
        }
        finally { IntraOpPool.NumThreads = saved; }
    }

    [Fact]
    public void ManyTinyJobsInARowEachRunEveryItemOnce()
    {
        // Workers often wake after the caller has finished a tiny job alone; they must never run an item of a
        // finished job again, nor miss one of the next job.
        int saved = IntraOpPool.NumThreads;
        try
        {
            IntraOpPool.NumThreads = 2;
            var hits = new int[3];
            for (int job = 0; job < 20000; job++)
            {
                Array.Clear(hits);
                IntraOpPool.For(3, i => Interlocked.Increment(ref hits[i]));
                Assert.True(hits.All(h => h == 1), $"job {job}: hits {string.Join(",", hits)}");
            }
        }
        finally { IntraOpPool.NumThreads = saved; }
    }

    [Fact]
    public void ForRangeCoversTheRangeWithoutOverlap()
    {
        var hits = new int[12345];
        IntraOpPool.ForRange(hits.Length, 100, (a, b) => { for (int i = a; i < b; i++) Interlocked.Increment(ref hits[i]); });
        Assert.All(hits, h => Assert.Equal(1, h));
    }
}
