using Sparkle.Tensors;
using Xunit;

namespace Sparkle.Tests;

/// <summary>Shape, dtype and device errors name both operands.</summary>
public class ElementwiseErrorTests
{
    [Fact]
    public void BroadcastFailureNamesBothShapesAndTheOp()
    {
        var a = Tensor.Ones([2, 3]);
        var b = Tensor.Ones([4]);
        foreach (var f in new Func<Tensor>[] { () => a + b, () => a.Lt(b), () => a.Maximum(b), () => Tensor.Where(a.Gt(0), a, b) })
        {
            var ex = Assert.Throws<ArgumentException>(f);
            Assert.Contains("(2, 3)", ex.Message);
            Assert.Contains("(4)", ex.Message);
        }
        Assert.StartsWith("Add:", Assert.Throws<ArgumentException>(() => a + b).Message);
        var m = Assert.Throws<ArgumentException>(() => Tensor.Ones([3]).MaskedFill(Tensor.Ones([2, 3], DType.Bool), 0));
        Assert.Contains("(2, 3)", m.Message);
    }

    [Fact]
    public void DtypeErrorsAreClear()
    {
        Assert.Contains("bool", Assert.Throws<InvalidOperationException>(() => Tensor.Where(Tensor.Ones([2]), Tensor.Ones([2]), Tensor.Ones([2]))).Message);
        Assert.Contains("bool", Assert.Throws<InvalidOperationException>(() => Tensor.Ones([2], DType.Bool).Neg()).Message);
        Assert.Throws<ArgumentException>(() => Tensor.Ones([2]).Clamp());
    }
}
