using Sparkle.Tensors;
using Sparkle.Tests.Support;
using Xunit;

namespace Sparkle.Tests;

/// <summary>PyTorch golden vectors (Tests/Golden/README.md): activations and broadcast add/mul, in float64
/// (normwise relative error 1e-10) and float32 (1e-4), from float32-exact inputs.</summary>
public class ElementwiseGoldenTests
{
    private static readonly DType[] Both = [DType.Float64, DType.Float32];

    /// <summary>Every case of a golden file with one of the ops, in both dtypes.</summary>
    public static TheoryData<string, DType> CasesOf(string file, params string[] ops)
    {
        var d = new TheoryData<string, DType>();
        foreach (var c in Golden.CaseNames(file, ops)) foreach (var t in Both) d.Add(c, t);
        return d;
    }

    public static TheoryData<string, DType> Activations() => CasesOf("activations.safetensors", "gelu", "relu", "relu6", "sigmoid", "tanh");
    public static TheoryData<string, DType> Broadcasts() => CasesOf("reductions.safetensors", "add", "mul");

    /// <summary>out and grad_x (relu's exact zeros pin relu'(0) = 0).</summary>
    [Theory]
    [MemberData(nameof(Activations))]
    public void ActivationsMatchPyTorch(string name, DType dtype)
    {
        var g = Golden.Open("activations.safetensors", name);
        var x = ToTensor(g["x"], dtype).RequireGrad();
        var y = g.Op switch
        {
            "gelu" => g.Meta.GetProperty("approximate").GetString() == "none" ? x.Gelu() : throw new NotSupportedException("gelu tanh"),
            "relu" => x.Relu(),
            "relu6" => x.Relu6(),
            "sigmoid" => x.Sigmoid(),
            "tanh" => x.Tanh(),
            _ => throw new ArgumentException(g.Op),
        };
        AssertNormwise(g["out"], y, dtype);
        y.Backward(ToTensor(g["R"], dtype));
        AssertNormwise(g["grad_x"], x.Grad!, dtype);
        g.AssertAllRead();
    }

    /// <summary>out, grad_a and grad_b: the broadcast gradients are summed back to each input's shape.</summary>
    [Theory]
    [MemberData(nameof(Broadcasts))]
    public void BroadcastArithmeticMatchesPyTorch(string name, DType dtype)
    {
        var g = Golden.Open("reductions.safetensors", name);
        var a = ToTensor(g["a"], dtype).RequireGrad();
        var b = ToTensor(g["b"], dtype).RequireGrad();
        Assert.Equal(g.Ints("a_shape"), a.ShapeArray());
        Assert.Equal(g.Ints("b_shape"), b.ShapeArray());
        var y = g.Op == "add" ? a + b : a * b;
        Assert.Equal(g.Ints("out_shape"), y.ShapeArray());
        AssertNormwise(g["out"], y, dtype);
        y.Backward(ToTensor(g["R"], dtype));
        AssertNormwise(g["grad_a"], a.Grad!, dtype);
        AssertNormwise(g["grad_b"], b.Grad!, dtype);
        g.AssertAllRead();
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
