using Sparkle.Tensors;
using static Sparkle.Autograd.Rules.GradUtil;

namespace Sparkle.Autograd.Rules;

/// <summary>
/// Gradients of IndexSelect, Gather, ScatterAdd and Where (forward: Tensor.Indexing.cs and
/// Tensor.Elementwise.Logic.cs). Selections scatter-add the gradient back, so an index that repeats
/// accumulates. RepeatInterleave and MaskedSelect are compositions of recorded ops.
/// </summary>
internal static class IndexingRules
{
    public static Tensor IndexSelect(Tensor x, int dim, Tensor index, Tensor y)
    {
        var (shape, dtype, device) = (x.ShapeArray(), x.DType, x.Device);
        return Differentiable.Record("IndexSelect", y, [x], g =>
        {
            if (shape.Length == 0) return [g.Reshape()];
            int d = ShapeUtil.NormalizeDim(dim, shape.Length);
            // index (n) viewed as (1, .., n, .., 1) and expanded to g's shape, for a scatter-add along d.
            var view = Enumerable.Repeat(1, g.Rank).ToArray();
            view[d] = index.NumElements;
            var spread = index.Reshape(view).Expand(g.ShapeArray());
            return [Zeros(shape, dtype, device).ScatterAdd_(d, spread, g)];
        }, index);
    }

    public static Tensor Gather(Tensor x, int dim, Tensor index, Tensor y)
    {
        var (shape, dtype, device) = (x.ShapeArray(), x.DType, x.Device);
        return Differentiable.Record("Gather", y, [x], g =>
        {
            if (shape.Length == 0) return [g.Reshape()];
            int d = ShapeUtil.NormalizeDim(dim, shape.Length);
            return [Zeros(shape, dtype, device).ScatterAdd_(d, index, g)];
        }, index);
    }

    /// <summary>self passes the gradient through; src gets it gathered back from where it was added (src may be
    /// larger than index: only its index-shaped corner was used).</summary>
    public static Tensor ScatterAdd(Tensor self, int dim, Tensor index, Tensor src, Tensor y)
    {
        bool nSelf = self.RequiresGrad, nSrc = src.RequiresGrad;
        var srcShape = src.ShapeArray();
        return Differentiable.Record("ScatterAdd", y, [self, src], g =>
        {
            Tensor? gSrc = null;
            if (nSrc)
            {
                if (srcShape.Length == 0) gSrc = g.Reshape();
                else
                {
                    int d = ShapeUtil.NormalizeDim(dim, srcShape.Length);
                    var gathered = g.Gather(d, index);
                    if (ShapeUtil.SameShape(srcShape, index.Shape)) gSrc = gathered;
                    else
                    {
                        gSrc = Zeros(srcShape, g.DType, g.Device);
                        var corner = gSrc;
                        for (int i = 0; i < srcShape.Length; i++) corner = corner.Narrow(i, 0, index.Size(i));
                        corner.Copy_(gathered);
                    }
                }
            }
            return [nSelf ? g : null, gSrc];
        }, index);
    }

    public static Tensor Where(Tensor cond, Tensor a, Tensor b, Tensor y)
    {
        var (sa, sb, ta, tb) = (a.ShapeArray(), b.ShapeArray(), a.DType, b.DType);
        bool na = a.RequiresGrad, nb = b.RequiresGrad;
        return Differentiable.Record("Where", y, [a, b], g =>
        [
            na ? For(Tensor.Where(cond, g, 0.0), sa, ta) : null,
            nb ? For(Tensor.Where(cond, 0.0, g), sb, tb) : null,
        ], cond);
    }
}
