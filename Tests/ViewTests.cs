using Sparkle.Tensors;
using Sparkle.Tests.Support;
using Xunit;

namespace Sparkle.Tests;

public class SmokeTests
{
    [Fact]
    public void CloneOfPermutedViewIsRowMajor()
    {
        var t = Tensor.FromArray(new float[] { 1, 2, 3, 4, 5, 6 }, [2, 3]);
        var c = t.T.Contiguous();
        Check.Shape(c, 3, 2);
        Assert.Equal(new float[] { 1, 4, 2, 5, 3, 6 }, c.ToArray<float>());
    }
}
