using Sparkle.Tensors;

namespace Sparkle.Autograd.Rules;

/// <summary>Helpers shared by the gradient rules (all run with recording off).</summary>
internal static class GradUtil
{
    /// <summary>Sums a broadcast gradient back to <paramref name="shape"/> (the reverse of broadcasting):
    /// leading extra dims and dims that were 1 in shape are summed away.</summary>
    public static Tensor SumTo(Tensor g, int[] shape)
    {
        if (ShapeUtil.SameShape(g.Shape, shape)) return g;
        int lead = g.Rank - shape.Length;
        var axes = new List<int>();
        for (int i = 0; i < g.Rank; i++)
            if (i < lead || (shape[i - lead] == 1 && g.Shape[i] != 1)) axes.Add(i);
        var r = axes.Count == 0 ? g : g.Sum([.. axes], keepDim: true);
        return r.Reshape(shape);
    }

    /// <summary>The gradient for an input of the given shape and dtype: broadcast dims summed, then converted
    /// (the forward may have promoted the input to a wider dtype).</summary>
    public static Tensor For(Tensor g, int[] shape, DType dtype) => SumTo(g, shape).To(dtype);

    /// <summary>Bool mask as 0/1 in <paramref name="dtype"/>.</summary>
    public static Tensor AsFloat(Tensor mask, DType dtype) => mask.To(dtype);

    public static Tensor Zeros(int[] shape, DType dtype, Device device) => Tensor.Zeros(shape, dtype, device);

    /// <summary>The shape with the reduced axes kept as size 1.</summary>
    public static int[] KeepDims(int[] shape, int[] axes)
    {
        var keep = (int[])shape.Clone();
        foreach (int a in axes) keep[a] = 1;
        return keep;
    }
}
