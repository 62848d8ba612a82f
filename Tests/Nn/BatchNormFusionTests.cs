using Sparkle.Nn;
using Sparkle.Nn.Layers;
using Sparkle.Tensors;
using Xunit;

namespace Sparkle.Tests.Nn;

/// <summary>BatchNorm.ForwardThen, which the ResNet blocks and the LightDecoder's UNet block use: fusing the activation
/// into the BN kernel gives the bits of BN then the activation module (forward, gradients, running statistics), and
/// anything but a plain BatchNorm followed by ReLU/ReLU6 runs the two modules as they are.</summary>
public class BatchNormFusionTests
{
    [Theory]
    [InlineData(false, DType.Float32)]
    [InlineData(true, DType.Float32)]
    [InlineData(true, DType.Float64)]
    public void FusedEqualsBatchNormThenActivationBitForBit(bool relu6, DType dt)
    {
        var g = new Generator(21);
        var x = (Tensor.Randn([3, 4, 5, 6], g, dt) * 2.0).RequireGrad();
        var x2 = x.Detach().Clone().RequireGrad();
        var up = Tensor.Randn([3, 4, 5, 6], g, dt);
        var (bn1, bn2) = (new BatchNorm2d(4, dtype: dt), new BatchNorm2d(4, dtype: dt));
        foreach (var bn in new[] { bn1, bn2 })
            using (Sparkle.Autograd.GradMode.NoGrad()) { bn.Weight!.Copy_(Tensor.FromArray(new[] { 0.5, 1, 2, 3 }).To(dt)); bn.Bias!.Copy_(Tensor.FromArray(new[] { 0.0, 1, 3, 6 }).To(dt)); }
        Module act = relu6 ? new ReLU6() : new ReLU();
        var fused = BatchNorm.ForwardThen(bn1, act, x);
        var plain = act.Forward(bn2.Forward(x2));
        Assert.Equal(relu6 ? "BatchNormRelu6Backward" : "BatchNormReluBackward", fused.GradFnName);
        Assert.NotEqual(fused.GradFnName, plain.GradFnName);
        fused.Backward(up);
        plain.Backward(up);
        Assert.Equal(plain.ToDoubleArray(), fused.ToDoubleArray());
        Assert.Equal(x2.Grad!.ToDoubleArray(), x.Grad!.ToDoubleArray());
        Assert.Equal(bn2.Weight!.Grad!.ToDoubleArray(), bn1.Weight!.Grad!.ToDoubleArray());
        Assert.Equal(bn2.Bias!.Grad!.ToDoubleArray(), bn1.Bias!.Grad!.ToDoubleArray());
        Assert.Equal(bn2.RunningMean!.ToDoubleArray(), bn1.RunningMean!.ToDoubleArray());
        Assert.Equal(bn2.RunningVar!.ToDoubleArray(), bn1.RunningVar!.ToDoubleArray());
    }

    [Fact]
    public void OtherModulesRunOneAfterTheOther()
    {
        var x = Tensor.Randn([2, 3, 4, 4], new Generator(3));
        var bn = new BatchNorm2d(3);
        var viaGelu = BatchNorm.ForwardThen(bn, new GELU(), x.Detach().RequireGrad());
        Assert.Equal("GeluBackward", viaGelu.GradFnName);
        var viaIdentity = BatchNorm.ForwardThen(new Identity(), new ReLU(), x.Detach().RequireGrad());
        Assert.Equal("ReluBackward", viaIdentity.GradFnName);
    }
}
