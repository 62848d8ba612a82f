using Sparkle.Nn;
using Sparkle.Nn.Layers;
using Sparkle.Nn.Parallel;
using Sparkle.Sparse;
using Sparkle.Sparse.Layers;
using Sparkle.Tensors;
using Sparkle.Tensors.Backend;
using Xunit;

namespace Sparkle.Tests.Nn;

/// <summary>Train-mode batch norm over at most one value per channel throws PyTorch's error on every CPU path (fused
/// kernel, composed ops, the layers, sparse gather BN, masked-dense BN, SyncBN) and leaves the running statistics (and
/// num_batches_tracked) as they were. The ILGPU device's path: Tests/Gpu/GpuNormPoolTests.</summary>
public class BatchNormOneValueTests
{
    internal const string TorchWords = "Expected more than 1 value per channel when training, got input size ";

    private static (Tensor Mean, Tensor Var) Running(int c) =>
        (Tensor.FromArray(Enumerable.Range(0, c).Select(i => 0.25f * i).ToArray(), [c]),
         Tensor.FromArray(Enumerable.Range(0, c).Select(i => 1.5f + i).ToArray(), [c]));

    private static void AssertRefused(Action run, string expectedSize, Tensor rm, Tensor rv)
    {
        var (m0, v0) = (rm.ToDoubleArray(), rv.ToDoubleArray());
        var e = Assert.Throws<ArgumentException>(run);
        Assert.Contains(TorchWords + expectedSize, e.Message);
        Assert.Equal(m0, rm.ToDoubleArray());
        Assert.Equal(v0, rv.ToDoubleArray());
    }

    [Theory]
    [InlineData(new[] { 1, 64, 1, 1 }, "[1, 64, 1, 1]")]
    [InlineData(new[] { 1, 5 }, "[1, 5]")]
    [InlineData(new[] { 1, 3, 1 }, "[1, 3, 1]")]
    public void FusedKernelPathRefuses(int[] shape, string size)
    {
        var (rm, rv) = Running(shape[1]);
        var x = Tensor.Ones(shape);
        AssertRefused(() => Functional.BatchNorm(x, rm, rv, Tensor.Ones([shape[1]]), Tensor.Zeros([shape[1]]), training: true), size, rm, rv);
        AssertRefused(() => Functional.BatchNorm(x, rm, rv, null, null, training: true, activation: Activation.Relu), size, rm, rv);
    }

    [Fact]
    public void ComposedPathRefuses()
    {
        var (rm, rv) = Running(4);
        var x = Tensor.Ones([1, 4, 1, 1], DType.Float64);
        AssertRefused(() => Functional.BatchNormComposed(x, rm, rv, null, null, training: true), "[1, 4, 1, 1]", rm, rv);
        // A float32 weight on a float64 input takes the composed path from Functional.BatchNorm.
        AssertRefused(() => Functional.BatchNorm(x, rm, rv, Tensor.Ones([4]), null, training: true), "[1, 4, 1, 1]", rm, rv);
    }

    [Fact]
    public void LayersRefuseAndCountNothing()
    {
        var bn = new BatchNorm2d(3);
        bn.Train();
        AssertRefused(() => bn.Forward(Tensor.Ones([1, 3, 1, 1])), "[1, 3, 1, 1]", bn.RunningMean!, bn.RunningVar!);
        Assert.Equal(0L, bn.NumBatchesTracked!.ToArray<long>()[0]);
        bn.Forward(Tensor.Ones([2, 3, 1, 1]));                      // two values per channel are enough
        Assert.Equal(1L, bn.NumBatchesTracked!.ToArray<long>()[0]);
        var bn1 = new BatchNorm1d(3);
        bn1.Train();
        AssertRefused(() => bn1.Forward(Tensor.Ones([1, 3])), "[1, 3]", bn1.RunningMean!, bn1.RunningVar!);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(0)]
    public void SparseBatchNormRefusesOnBothAlgorithms(int activeSites)
    {
        var bits = new bool[2 * 2 * 2];
        for (int i = 0; i < activeSites; i++) bits[i] = true;
        var mask = new ActiveMask(2, 2, 2, bits);
        var x = Tensor.Rand([2, 3, 2, 2], new Generator(4));
        using var ctx = SparseContext.Begin(mask);
        var (rm, rv) = Running(3);
        string size = $"[{activeSites}, 3]";                       // the (n, C) rows the official BatchNorm1d sees
        AssertRefused(() => SparseOps.BatchNorm2d(x, rm, rv, null, null, training: true), size, rm, rv);
        AssertRefused(() => MaskedDense.BatchNorm2d(x, rm, rv, null, null, training: true), size, rm, rv);

        var layer = new SparseBatchNorm2d(new BatchNorm2d(3));
        layer.Train();
        AssertRefused(() => layer.Forward(x), size, layer.RunningMean!, layer.RunningVar!);
        using (SparseMode.Oracle()) AssertRefused(() => layer.Forward(x), size, layer.RunningMean!, layer.RunningVar!);
        Assert.Equal(0L, layer.NumBatchesTracked!.ToArray<long>()[0]);
    }

    [Fact]
    public void SyncBatchNormRefuses()
    {
        var (rm, rv) = Running(2);
        using var _ = SyncBatchNorm.Use(LocalCommunicator.Instance);
        AssertRefused(() => Functional.BatchNorm(Tensor.Ones([1, 2, 1, 1]), rm, rv, null, null, training: true), "[1, 2, 1, 1]", rm, rv);
    }
}
