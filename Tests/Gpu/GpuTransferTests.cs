using FsCheck.Xunit;
using Sparkle.Tensors;
using Sparkle.Tests.Support;
using Xunit;

namespace Sparkle.Tests.Gpu;

/// <summary>Host transfers, strided copies, casts and fills on the ILGPU CPU accelerator agree exactly with the CPU.</summary>
[Collection(IlgpuCollection.Name)]
public class GpuTransferTests(IlgpuFixture gpu)
{
    private static readonly DType[] AllDTypes = Enum.GetValues<DType>();

    [Property(MaxTest = 6)]
    public void RoundTripAndStridedDownloadAreExact(long seed)
    {
        var rng = new SeededRandom(seed);
        foreach (var dt in AllDTypes)
        {
            var shape = TensorGen.RandomShape(rng, 0, 4, 5);
            var (cpu, dev) = GpuGen.Pair(rng, shape, dt, GpuGen.AnyLayout(rng), gpu.Device);
            GpuGen.Agree(cpu, dev, gpu.Device, what: $"view {dt.Name()}");
            GpuGen.Agree(cpu.Contiguous(), dev.Contiguous(), gpu.Device, what: $"contiguous {dt.Name()}");
        }
    }

    [Fact]
    public void EveryCastMatchesTheCpuRules()
    {
        var rng = new Random(11);
        foreach (var from in AllDTypes)
        foreach (var to in AllDTypes)
        {
            var (cpu, dev) = GpuGen.Pair(rng, [3, 4, 5], from, GpuGen.AnyLayout(rng), gpu.Device);
            GpuGen.Agree(cpu.To(to), dev.To(to), gpu.Device, what: $"{from.Name()} -> {to.Name()}");
        }
    }

    [Fact]
    public void CastsOfEdgeValuesMatch()
    {
        // Truncation toward zero, int64 -> int32 wrap-around, int64 beyond 2^53 -> float, nonzero -> true.
        var f = Tensor.FromArray(new[] { -2.7, -0.5, 0.0, 0.5, 2.7, 1e10, -1e10, 3.0e9 });
        var l = Tensor.FromArray(new[] { long.MaxValue, long.MinValue, (1L << 53) + 1, 5_000_000_000L, -3L, 0L });
        foreach (var src in new[] { f, l })
        foreach (var to in AllDTypes)
            GpuGen.Agree(src.To(to), src.To(gpu.Device).To(to), gpu.Device, what: $"{src.DType.Name()} -> {to.Name()}");
    }

    [Fact]
    public void FillAndCopyIntoViewsWriteOnlyTheView()
    {
        var rng = new Random(5);
        foreach (var dt in AllDTypes)
        {
            var baseCpu = TensorGen.Random(rng, [4, 6, 3], dt);
            var baseDev = baseCpu.To(gpu.Device);
            baseCpu.Slice(1, 1, 6, 2).Fill_(3);
            baseDev.Slice(1, 1, 6, 2).Fill_(3);
            GpuGen.Agree(baseCpu, baseDev, gpu.Device, what: $"fill {dt.Name()}");

            // a permuted, narrowed destination; a float64 source broadcast from (4, 1); a cast on the way
            var src = TensorGen.Random(rng, [4, 1], DType.Float64);
            baseCpu.Permute(2, 0, 1).Narrow(2, 0, 2).Copy_(src);
            baseDev.Permute(2, 0, 1).Narrow(2, 0, 2).Copy_(src.To(gpu.Device));
            GpuGen.Agree(baseCpu, baseDev, gpu.Device, what: $"copy_ into {dt.Name()}");
        }
    }

    [Fact]
    public void ZerosAndFullAreAllocatedOnTheDevice()
    {
        foreach (var dt in AllDTypes)
        {
            GpuGen.Agree(Tensor.Zeros([3, 5], dt), Tensor.Zeros([3, 5], dt, gpu.Device), gpu.Device, what: $"zeros {dt.Name()}");
            GpuGen.Agree(Tensor.Full([4, 2], -2, dt), Tensor.Full([4, 2], -2, dt, gpu.Device), gpu.Device, what: $"full {dt.Name()}");
        }
    }

    [Fact]
    public void EmptyTensorsTravel()
    {
        var e = Tensor.Zeros([0, 3]).To(gpu.Device);
        Assert.Equal(0, e.To(Device.Cpu).NumElements);
        Assert.Equal(0, (e + 1).NumElements);
    }
}
