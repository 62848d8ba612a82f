using Sparkle.Tensors;
using Sparkle.Tests.Support;
using Xunit;

namespace Sparkle.Tests;

/// <summary>PyTorch golden vectors (Tests/Golden/README.md): activations and broadcast add/mul, in float64
/// (normwise relative error 1e-10) and float32 (1e-4), from float32-exact inputs.</summary>
public class ElementwiseGoldenTests
{
    public static TheoryData<string, DType> Activations()
    {
        var d = new TheoryData<string, DType>();
        foreach (var c in new[] { "gelu", "relu", "relu6", "sigmoid", "tanh" })
            foreach (var t in new[] { DType.Float64, DType.Float32 }) d.Add(c, t);
        return d;
    }

    [Theory]
    [MemberData(nameof(Activations))]
    public void ActivationsMatchPyTorch(string name, DType dtype)
    {
        var g = Golden.Load("activations.safetensors");
        var x = ToTensor(g[$"{name}/x"], dtype);
        var y = name switch
        {
            "gelu" => x.Gelu(),
            "relu" => x.Relu(),
            "relu6" => x.Relu6(),
            "sigmoid" => x.Sigmoid(),
            "tanh" => x.Tanh(),
            _ => throw new ArgumentException(name),
        };
        AssertNormwise(g[$"{name}/out"], y, dtype);
    }

    [Theory]
    [InlineData("broadcast_add", DType.Float64)]
    [InlineData("broadcast_add", DType.Float32)]
    [InlineData("broadcast_mul", DType.Float64)]
    [InlineData("broadcast_mul", DType.Float32)]
    public void BroadcastArithmeticMatchesPyTorch(string name, DType dtype)
    {
        var g = Golden.Load("reductions.safetensors");
        var a = ToTensor(g[$"{name}/a"], dtype);
        var b = ToTensor(g[$"{name}/b"], dtype);
        var y = name == "broadcast_add" ? a + b : a * b;
        AssertNormwise(g[$"{name}/out"], y, dtype);
    }

    internal static Tensor ToTensor(Golden.Entry e, DType dtype) =>
        Tensor.FromArray(e.Values, e.Shape).To(dtype);

    internal static void AssertNormwise(Golden.Entry expected, Tensor actual, DType dtype)
    {
        Check.Shape(actual, expected.Shape);
        var a = actual.ToDoubleArray();
        double maxDiff = 0, maxRef = 0;
        for (int i = 0; i < a.Length; i++)
        {
            maxDiff = Math.Max(maxDiff, Math.Abs(a[i] - expected.Values[i]));
            maxRef = Math.Max(maxRef, Math.Abs(expected.Values[i]));
        }
        double tol = dtype == DType.Float64 ? 1e-10 : 1e-4;
        Assert.True(maxDiff <= tol * maxRef, $"normwise relative error {maxDiff / maxRef:E2} > {tol:E0} ({dtype.Name()})");
    }
}
