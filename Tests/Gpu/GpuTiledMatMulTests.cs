using Sparkle.Gpu;
using Sparkle.Tensors;
using Sparkle.Tests.Support;
using Xunit;

namespace Sparkle.Tests.Gpu;

/// <summary>The shared-memory tiled GEMM (<c>TiledMatMulKernel</c>) on the ILGPU CPU accelerator: agreement with the CPU
/// backend at odd sizes (1..70, primes, K = 1, edges of every tile), batched, broadcast and transposed operands, several
/// group shapes; bit-equality with the naive kernel (same summation order); accumulate.</summary>
[Collection(IlgpuCollection.Name)]
public class GpuTiledMatMulTests(IlgpuFixture gpu)
{
    private IlgpuBackend B => gpu.Backend;

    private static (Tensor Cpu, Tensor Dev) Rand(int[] shape, DType dt, ulong seed, Device dev)
    {
        var c = Tensor.Randn(shape, new Generator(seed), dt);
        return (c, c.To(dev));
    }

    private void Agree(Tensor cpu, Tensor dev, DType dt, string what)
    {
        if (dev.Device != Device.Cpu) Assert.Equal(gpu.Device, dev.Device);
        var back = dev.To(Device.Cpu);
        Check.Shape(back, cpu.ShapeArray());
        double tol = dt == DType.Float32 ? 1e-4 : 1e-12;
        Check.Close(TensorGen.Values(cpu), back, tol, tol, what);
    }

    public static TheoryData<int, int, int, int> Sizes => new()
    {
        { 1, 1, 1, 1 }, { 1, 1, 70, 1 }, { 1, 70, 1, 70 }, { 1, 17, 1, 13 }, { 1, 16, 16, 16 }, { 1, 17, 17, 17 },
        { 1, 31, 37, 29 }, { 1, 64, 33, 65 }, { 1, 70, 70, 70 }, { 1, 3, 67, 5 }, { 3, 7, 19, 11 }, { 5, 2, 23, 41 }, { 2, 33, 16, 1 },
    };

    [Theory]
    [MemberData(nameof(Sizes))]
    public void AgreesWithTheCpuAtOddSizes(int batch, int m, int k, int n)
    {
        foreach (var dt in new[] { DType.Float32, DType.Float64 })
        {
            var (ca, da) = Rand([batch, m, k], dt, 1, gpu.Device);
            var (cb, db) = Rand([batch, k, n], dt, 2, gpu.Device);
            long before = B.TiledMatMulLaunches;
            var r = da.MatMul(db);
            Assert.True(B.TiledMatMulLaunches > before, "the tiled kernel was not used");
            Agree(ca.MatMul(cb), r, dt, $"{dt.Name()} ({batch},{m},{k})x({batch},{k},{n})");
        }
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(true, true)]
    public void TransposedAndBroadcastOperands(bool transA, bool transB)
    {
        const int batch = 3, m = 23, k = 41, n = 19;
        var dt = DType.Float32;
        // Transposed views made on the device (strides (.., 1, M) instead of (.., K, 1)); B broadcast over the batch (stride 0).
        var (ca, da) = transA ? Rand([batch, k, m], dt, 3, gpu.Device) : Rand([batch, m, k], dt, 3, gpu.Device);
        var (cb, db) = transB ? Rand([n, k], dt, 4, gpu.Device) : Rand([k, n], dt, 4, gpu.Device);
        if (transA) { ca = ca.Transpose(1, 2); da = da.Transpose(1, 2); }
        if (transB) { cb = cb.Transpose(0, 1); db = db.Transpose(0, 1); }
        Agree(ca.MatMul(cb), da.MatMul(db), dt, $"transA {transA} transB {transB}");
        // A stepped slice (row stride 2) and a column-sliced operand (offset, non-unit K stride after transpose).
        var (cs, ds) = Rand([2 * m + 1, k + 3], dt, 5, gpu.Device);
        var sa = cs.Slice(0, 1, 2 * m + 1, 2).Narrow(1, 2, k);
        var sd = ds.Slice(0, 1, 2 * m + 1, 2).Narrow(1, 2, k);
        Agree(sa.MatMul(cb), sd.MatMul(db), dt, "stepped slice");
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(4, 2)]
    [InlineData(2, 4)]
    [InlineData(3, 5)]
    [InlineData(4, 4)]
    public void EveryGroupShapeAgreesAndEqualsTheNaiveKernel(int tx, int ty)
    {
        var (ca, da) = Rand([2, 29, 37], DType.Float32, 6, gpu.Device);
        var (cb, db) = Rand([2, 37, 31], DType.Float32, 7, gpu.Device);
        Tensor tiled, naive;
        try
        {
            B.MatMulGroup = (tx, ty);
            var t = da.MatMul(db);
            Assert.Equal(gpu.Device, t.Device);
            tiled = t.To(Device.Cpu);
            B.TiledMatMul = false;
            naive = da.MatMul(db).To(Device.Cpu);
        }
        finally
        {
            B.MatMulGroup = null;
            B.TiledMatMul = true;
        }
        Agree(ca.MatMul(cb), tiled, DType.Float32, $"group {tx}x{ty}");
        // Same per-output summation order (k ascending from zero): bit-identical on the simulator (no FMA contraction).
        Assert.Equal(naive.ToArray<float>(), tiled.ToArray<float>());
    }

    [Fact]
    public void AccumulateAddsToTheDestination()
    {
        var (ca, da) = Rand([2, 13, 21], DType.Float64, 8, gpu.Device);
        var (cb, db) = Rand([2, 21, 9], DType.Float64, 9, gpu.Device);
        var (cd, dd) = Rand([2, 13, 9], DType.Float64, 10, gpu.Device);
        B.MatMul(da, db, dd, accumulate: true);
        Agree(cd + ca.MatMul(cb), dd, DType.Float64, "accumulate");
    }
}
