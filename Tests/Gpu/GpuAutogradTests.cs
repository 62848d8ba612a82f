using Sparkle.Nn;
using Sparkle.Nn.Layers;
using Sparkle.Tensors;
using Sparkle.Tests.Support;
using Xunit;

namespace Sparkle.Tests.Gpu;

/// <summary>Autograd is written in tensor ops, so a training graph on the ILGPU backend must give the CPU's loss and
/// gradients: a small conv-free network (linear, batch norm, GELU, pooling, cross-entropy) forward and backward on
/// both devices from the same weights.</summary>
[Collection(IlgpuCollection.Name)]
public class GpuAutogradTests(IlgpuFixture gpu)
{
    private static Tensor Loss(Tensor x, Tensor w1, Tensor b1, Tensor w2, Tensor labels, bool bn)
    {
        var h = x.MatMul(w1.T) + b1;                                           // (N, 8)
        if (bn) h = Functional.BatchNorm(h, null, null, null, null, training: true);
        h = h.Gelu().Reshape(-1, 2, 2, 2);
        h = Functional.MaxPool2d(h, 2, 1) + Functional.AvgPool2d(h, 2, 1);   // (N, 2, 1, 1)
        var logits = h.Flatten(1).MatMul(w2);                                  // (N, 3)
        return Functional.CrossEntropy(logits, labels, labelSmoothing: 0.1);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void LossAndGradientsAgreeWithTheCpu(bool bn)
    {
        var g = new Generator(11);
        var cpu = new[] { Tensor.Randn([6, 4], g), Tensor.Randn([8, 4], g), Tensor.Randn([8], g), Tensor.Randn([2, 3], g) };
        var labels = Tensor.FromArray(new long[] { 0, 1, 2, 2, 1, 0 });
        var dev = cpu.Select(t => t.To(gpu.Device)).ToArray();
        foreach (var t in cpu.Concat(dev)) t.RequireGrad();

        var lossCpu = Loss(cpu[0], cpu[1], cpu[2], cpu[3], labels, bn);
        var lossDev = Loss(dev[0], dev[1], dev[2], dev[3], labels.To(gpu.Device), bn);
        lossCpu.Backward();
        lossDev.Backward();

        Assert.Equal(gpu.Device, dev[1].Grad!.Device);
        Check.Close(lossCpu.ToDoubleArray(), lossDev.To(Device.Cpu), 1e-5, 1e-6, "loss");
        for (int i = 0; i < cpu.Length; i++)
            Check.Close(cpu[i].Grad!.ToDoubleArray(), dev[i].Grad!.To(Device.Cpu), 1e-4, 1e-5, $"grad {i}");
    }

    [Fact]
    public void ModuleStateMovesBetweenDevicesThroughStateDicts()
    {
        var cpuLayer = new Linear(3, 2, generator: new Generator(2));
        var devLayer = new Linear(3, 2);
        var moved = cpuLayer.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.To(gpu.Device));
        devLayer.LoadStateDict(moved);
        Check.Close(cpuLayer.Weight.ToDoubleArray(), devLayer.Weight, 0);
    }
}
