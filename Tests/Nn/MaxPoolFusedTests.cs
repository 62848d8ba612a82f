using FsCheck.Xunit;
using Sparkle.Tensors;
using Xunit;

using Sparkle.Tests;
using Sparkle.Tests.Support;

namespace Sparkle.Tests.Nn;

/// <summary>The backend's max-pool kernel (Tensors/Cpu/Pool, through Functional.MaxPool2d) against the composed tensor-op
/// version (Functional.MaxPool2dComposed), on contiguous input and on a strided view of the same values: same outputs,
/// same gradients, including ties, -inf, NaN, overlapping windows and padding.</summary>
[Collection(nameof(ThreadCountCollection))]
public class MaxPoolFusedTests
{
    [Property(MaxTest = 30)]
    public void FusedEqualsComposed(long seed)
    {
        var rng = new SeededRandom(seed);
        int k = rng.Next(1, 5), s = rng.Next(1, 4), p = rng.Next(0, k / 2 + 1);
        int h = rng.Next(k, 12), w = rng.Next(k, 12), n = rng.Next(1, 3), c = rng.Next(1, 4);
        var dtype = rng.Next(2) == 0 ? DType.Float32 : DType.Float64;
        var values = new double[n * c * h * w];
        for (int i = 0; i < values.Length; i++)
            values[i] = rng.Next(10) switch
            {
                0 => 1.0,                                                // ties
                1 => -1e30,
                2 when rng.Next(4) == 0 => double.NaN,
                _ => Math.Round(rng.NextDouble() * 8 - 4, 1),
            };
        var contiguous = Tensor.FromArray(values).Reshape(n, c, h, w).To(dtype);
        // Same values in a strided (non-contiguous) view: the composed path.
        var wide = Tensor.Zeros([n, c, h, 2 * w], dtype);
        var strided = wide.Slice(3, 0, 2 * w, 2);
        strided.Copy_(contiguous);
        Assert.False(strided.IsContiguous);
        contiguous.RequireGrad();
        wide.RequireGrad();
        var fused = Sparkle.Nn.Functional.MaxPool2d(contiguous, k, s, p);
        var composed = Sparkle.Nn.Functional.MaxPool2dComposed(wide.Slice(3, 0, 2 * w, 2), k, s, p);
        Assert.Equal(composed.ToDoubleArray(), fused.ToDoubleArray());
        var upstream = Tensor.Randn(fused.ShapeArray(), new Generator((ulong)(uint)seed), dtype);
        fused.Backward(upstream);
        composed.Backward(upstream);
        var expected = wide.Grad!.Slice(3, 0, 2 * w, 2).ToDoubleArray();
        var actual = contiguous.Grad!.ToDoubleArray();
        double tol = dtype == DType.Float32 ? 1e-5 : 1e-12;            // overlapping windows sum in another order
        for (int i = 0; i < actual.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tol * (1 + Math.Abs(expected[i])), $"k{k} s{s} p{p} at {i}: {actual[i]} vs {expected[i]}");
    }

    /// <summary>A window whose real elements are all -inf: torch's kernel starts from the window's first real element
    /// (padding is skipped, not compared), so that element gets the gradient. (The composed path sends it to the
    /// padding, i.e. nowhere — it differs here, which is why the property above avoids -inf.)</summary>
    [Fact]
    public void AnAllMinusInfinityWindowSendsTheGradientToItsFirstRealElement()
    {
        var x = Tensor.Full([1, 1, 2, 2], double.NegativeInfinity).RequireGrad();
        var y = Sparkle.Nn.Functional.MaxPool2d(x, 2, 2, 1);          // 2x2 output, each window one real element
        Assert.All(y.ToDoubleArray(), v => Assert.Equal(double.NegativeInfinity, v));
        y.Backward(Tensor.Ones([1, 1, 2, 2]));
        Assert.Equal([1.0, 1.0, 1.0, 1.0], x.Grad!.ToDoubleArray());
    }

    [Fact]
    public void ResultsDoNotDependOnTheThreadCount()
    {
        var x = Tensor.Randn([4, 6, 17, 19], new Generator(3)).RequireGrad();
        var g = Tensor.Randn([4, 6, 9, 10], new Generator(4));
        Threads.AssertSameOnOneAndTwo(() =>
        {
            x.Grad = null;
            var y = Sparkle.Nn.Functional.MaxPool2d(x, 3, 2, 1);
            y.Backward(g);
            return [y.ToArray<float>(), x.Grad!.ToArray<float>()];
        });
    }
}
