using Sparkle.Tensors;
using static Sparkle.Autograd.Rules.GradUtil;

namespace Sparkle.Autograd.Rules;

/// <summary>
/// Gradients of views and copies (forward: Tensor.Views.cs). None saves its input: a view's backward needs
/// only shapes and positions.
/// </summary>
internal static class ViewRules
{
    public static Tensor Reshape(Tensor x, Tensor y)
    {
        var shape = x.ShapeArray();
        return Differentiable.Record("Reshape", y, [x], g => [g.Reshape(shape)]);
    }

    public static Tensor Permute(Tensor x, int[] dims, Tensor y)
    {
        var inverse = new int[dims.Length];
        for (int i = 0; i < dims.Length; i++) inverse[dims[i]] = i;
        return Differentiable.Record("Permute", y, [x], g => [g.Permute(inverse)]);
    }

    /// <summary>Slice and Narrow: the gradient is zero except at the selected positions.</summary>
    public static Tensor Slice(Tensor x, int dim, int start, int step, Tensor y)
    {
        var (shape, dtype, device) = (x.ShapeArray(), x.DType, x.Device);
        int count = y.Size(dim);
        return Differentiable.Record("Slice", y, [x], g =>
        {
            var gx = Zeros(shape, dtype, device);
            if (count > 0) gx.Slice(dim, start, start + (count - 1) * step + 1, step).Copy_(g);
            return [gx];
        });
    }

    public static Tensor Select(Tensor x, int dim, int index, Tensor y)
    {
        var (shape, dtype, device) = (x.ShapeArray(), x.DType, x.Device);
        return Differentiable.Record("Select", y, [x], g =>
        {
            var gx = Zeros(shape, dtype, device);
            gx.Select(dim, index).Copy_(g);
            return [gx];
        });
    }

    public static Tensor Expand(Tensor x, Tensor y)
    {
        var shape = x.ShapeArray();
        return Differentiable.Record("Expand", y, [x], g => [SumTo(g, shape)]);
    }

    /// <summary>Clone, To(dtype), To(device).</summary>
    public static Tensor Copy(Tensor x, Tensor y)
    {
        var (dtype, device) = (x.DType, x.Device);
        string name = x.Device != y.Device ? "ToDevice" : x.DType != y.DType ? "ToDType" : "Clone";
        return Differentiable.Record(name, y, [x], g => [g.To(device).To(dtype)]);
    }
}
