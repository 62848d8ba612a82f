using Sparkle.Nn;
using Sparkle.Nn.Layers;
using Sparkle.Sparse.Layers;

namespace Sparkle.Sparse;

/// <summary>
/// Dense model -> sparse encoder and back (SPARK.md §1.4). Conv2d, BatchNorm2d, LayerNorm / LayerNorm2d, MaxPool2d and
/// AvgPool2d are replaced in place (Module.ReplaceChild) by sparse layers that share their tensors, so parameter names,
/// shapes, values and tensor identities are unchanged (optimizer references and state dicts keep working).
/// </summary>
public static class SparseConversion
{
    /// <summary>Replaces every convertible descendant; returns the root, or its replacement when the root itself converts.</summary>
    public static Module ToSparse(Module root)
    {
        ArgumentNullException.ThrowIfNull(root);
        if (Sparsify(root) is { } r) return r;
        Walk(root, Sparsify);
        return root;
    }

    /// <summary>Puts the dense modules back (the inverse of <see cref="ToSparse"/>).</summary>
    public static Module ToDense(Module root)
    {
        ArgumentNullException.ThrowIfNull(root);
        if (Densify(root) is { } r) return r;
        Walk(root, Densify);
        return root;
    }

    private static void Walk(Module m, Func<Module, Module?> convert)
    {
        foreach (var (name, child) in m.NamedChildren().ToList())
        {
            if (convert(child) is { } replacement) m.ReplaceChild(name, replacement);
            else Walk(child, convert);
        }
    }

    private static Module? Sparsify(Module m)
    {
        Module? s = m switch
        {
            ISparseLayer => null,
            Conv2d c => new SparseConv2d(c),
            BatchNorm2d b => new SparseBatchNorm2d(b),
            LayerNorm l => new SparseLayerNorm(l),
            LayerNorm2d l => new SparseLayerNorm(l),
            MaxPool2d p => new SparseMaxPool2d(p),
            AvgPool2d p => new SparseAvgPool2d(p),
            _ => null,
        };
        s?.Train(m.Training);
        return s;
    }

    private static Module? Densify(Module m)
    {
        if (m is not ISparseLayer s) return null;
        s.Dense.Train(m.Training);
        return s.Dense;
    }
}
