using FsCheck.Xunit;
using Sparkle.Tensors;
using Sparkle.Tests.Support;
using Xunit;
using static Sparkle.Tests.ElementwiseReference;

namespace Sparkle.Tests;

/// <summary>In-place ops write through views into the shared storage and leave everything else alone.</summary>
public class ElementwiseInPlaceTests
{
    [Property(MaxTest = 20)]
    public void InPlaceOpsUpdateTheViewAndOnlyTheView(long seed)
    {
        var rng = new SeededRandom(seed);
        foreach (var dtype in Floats)
        {
            var baseT = TensorGen.Random(rng, [6, 7], dtype);
            var view = baseT.Slice(0, 1, 6, 2).Slice(1, 0, 7, 3); // (3, 3), strided
            var other = TensorGen.Random(rng, [3], dtype);       // broadcasts over rows
            var before = TensorGen.Values(baseT);
            var vv = TensorGen.Values(view);
            var ov = BroadcastValues(other, [3, 3]);

            Assert.Same(view, view.Add_(other, alpha: -0.5));
            var expected = vv.Zip(ov, (a, b) => ToDType(a + ToDType(-0.5 * b, dtype), dtype)).ToArray();
            Check.Close(expected, view, Check.Tol(dtype), what: "Add_ alpha");
            view.Mul_(2).Sub_(other).Div_(4);
            expected = expected.Zip(ov, (a, b) => (a * 2 - b) / 4).ToArray();
            Check.Close(expected, view, Check.Tol(dtype), what: "Mul_ Sub_ Div_");
            view.Mul_(other).Add_(1.5);
            expected = expected.Zip(ov, (a, b) => a * b + 1.5).ToArray();
            Check.Close(expected, view, Check.Tol(dtype), what: "Mul_(t) Add_(s)");

            // elements outside the view are untouched, elements inside changed in the base
            var after = TensorGen.Values(baseT);
            var inView = new HashSet<int>();
            foreach (int r in new[] { 1, 3, 5 }) foreach (int c in new[] { 0, 3, 6 }) inView.Add(r * 7 + c);
            for (int i = 0; i < 42; i++)
                if (!inView.Contains(i)) Assert.Equal(before[i], after[i]);
            Check.Close(TensorGen.Values(view), baseT.Slice(0, 1, 6, 2).Slice(1, 0, 7, 3), 0, 0, "base sees the writes");
        }
    }

    [Fact]
    public void CopyFillZeroWriteThroughViews()
    {
        var t = Tensor.Zeros([3, 4]);
        var col = t.Select(1, 2);
        col.Fill_(5);
        Assert.Equal(new double[] { 0, 0, 5, 0, 0, 0, 5, 0, 0, 0, 5, 0 }, t.ToDoubleArray());
        t.Slice(0, 0, 2).Copy_(Tensor.FromArray(new[] { 1, 2, 3, 4 })); // int row broadcast into float rows
        Assert.Equal(new double[] { 1, 2, 3, 4, 1, 2, 3, 4, 0, 0, 5, 0 }, t.ToDoubleArray());
        t.T.Slice(0, 3, 4).Zero_();
        Assert.Equal(new double[] { 1, 2, 3, 0, 1, 2, 3, 0, 0, 0, 5, 0 }, t.ToDoubleArray());
        var i = Tensor.FromArray(new[] { 1, 2, 3 });
        i.Add_(Tensor.FromArray(new[] { 1L, 1L, 1L }), alpha: 2).Mul_(3);
        Assert.Equal(new[] { 9, 12, 15 }, i.ToArray<int>());
    }

    [Fact]
    public void InPlaceRejectsWhatPyTorchRejects()
    {
        var f = Tensor.Ones([2, 3]);
        var i = Tensor.Ones([2, 3], DType.Int32);
        Assert.Contains("cannot be written", Assert.Throws<InvalidOperationException>(() => i.Add_(f)).Message);
        Assert.Contains("non-integral", Assert.Throws<InvalidOperationException>(() => i.Mul_(0.5)).Message);
        var ex = Assert.Throws<ArgumentException>(() => Tensor.Ones([3]).Add_(f));
        Assert.Contains("(2, 3)", ex.Message);
        Assert.Contains("(3)", ex.Message);
        Assert.Contains("expanded", Assert.Throws<InvalidOperationException>(() => Tensor.Ones([1, 3]).Expand(2, 3).Add_(f)).Message);
        Assert.Throws<InvalidOperationException>(() => i.Div_(2));
    }
}
