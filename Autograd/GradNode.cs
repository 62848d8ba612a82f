using Sparkle.Tensors;

namespace Sparkle.Autograd;

/// <summary>
/// Computes the gradients of an op's inputs from the gradient of its output. Returns one entry per input
/// passed to <see cref="Differentiable.Record"/>, in order, each shaped like that input (null = no gradient,
/// e.g. for an input that does not require grad).
/// </summary>
public delegate Tensor?[] BackwardFunction(Tensor gradOutput);

/// <summary>
/// One recorded op: its backward function and the edges to where its inputs' gradients go (the node that
/// made a non-leaf input, or the leaf tensor itself). Nodes hold no input tensors except what the backward
/// function saved, so intermediate results that no backward needs are freed during the forward pass.
/// </summary>
public sealed class GradNode
{
    private BackwardFunction? _backward;
    private SavedVersion[] _saved;

    internal GradNode(string name, IReadOnlyList<Tensor?> inputs, BackwardFunction backward, ReadOnlySpan<Tensor> saved)
    {
        Name = name;
        _backward = backward;
        Edges = new Edge[inputs.Count];
        for (int i = 0; i < inputs.Count; i++)
        {
            var t = inputs[i];
            if (t is null || !t.RequiresGrad) continue;
            Edges[i] = new Edge(t.GradNode as GradNode, t.IsLeaf ? t : null, t.ShapeArray(), t.DType, t.Device);
        }
        _saved = new SavedVersion[saved.Length];
        for (int i = 0; i < saved.Length; i++) _saved[i] = new SavedVersion(saved[i].Storage, saved[i].Storage.Version);
    }

    /// <summary>The op's name, e.g. "Mul"; ToString gives "MulBackward" as torch prints grad_fn.</summary>
    public string Name { get; }

    internal Edge[] Edges { get; private set; }

    /// <summary>The non-leaf tensor whose gradient Backward() keeps (Tensor.RetainGrad).</summary>
    internal Tensor? RetainTarget { get; set; }

    internal bool IsReleased => _backward is null;

    internal Tensor?[] Run(Tensor gradOutput)
    {
        var backward = _backward ?? throw new InvalidOperationException(
            $"Backward through {this} a second time: the graph was freed by the first Backward(). Pass retainGraph: true to the first call if you need to back-propagate twice.");
        foreach (var s in _saved)
            if (s.Storage.Version != s.Version)
                throw new InvalidOperationException(
                    $"{this}: a tensor it saved for the backward pass was modified by an in-place operation after the forward pass (version {s.Version}, now {s.Storage.Version}). Use an out-of-place op, or Clone() before modifying.");
        return backward(gradOutput);
    }

    /// <summary>Drops the backward function (and with it every saved tensor) and the edges.</summary>
    internal void Release()
    {
        _backward = null;
        Edges = [];
        // The version records hold the saved storages too: drop them, or every activation would stay reachable
        // through the engine's node table until the whole backward pass ends.
        _saved = [];
        RetainTarget = null;
    }

    public override string ToString() => Name + "Backward";

    internal readonly record struct Edge(GradNode? Node, Tensor? Leaf, int[] Shape, DType DType, Device Device)
    {
        public bool IsEmpty => Node is null && Leaf is null;
    }

    private readonly record struct SavedVersion(Storage Storage, int Version);
}
