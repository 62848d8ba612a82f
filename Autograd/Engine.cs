using Sparkle.Tensors;
using Sparkle.Tensors.Autograd;

namespace Sparkle.Autograd;

/// <summary>
/// The backward pass: counts, for every node reachable from the root, how many of its consumers will send
/// it a gradient; then runs nodes whose consumers have all reported (reverse topological order), summing
/// gradients that meet at a node and accumulating into leaves' Grad. Nodes are released as they finish
/// unless the graph is retained. Iterative throughout, so deep graphs do not overflow the stack.
/// With a <see cref="BackwardObserver"/> installed it also counts the edges into each leaf, tells the observer when a
/// leaf's last edge has been processed (its gradient is final for this backward) and calls it between nodes.
/// </summary>
internal static class Engine
{
    public static void Backward(Tensor root, Tensor? gradient, bool retainGraph)
    {
        gradient = RootGradient(root, gradient);
        using var _ = GradMode.NoGrad();
        var observer = BackwardObserver.Current;
        if (root.GradNode is not GradNode rootNode)
        {
            AccumulateLeaf(root, gradient);
            observer?.LeafGradientFinal(root);
            return;
        }

        // Edges still to come into each leaf: counted only for an observer (weight sharing gives a leaf several).
        var leafPending = observer is null ? null : new Dictionary<Tensor, int>(ReferenceEqualityComparer.Instance);
        var pending = CountConsumers(rootNode, leafPending);
        var grads = new Dictionary<GradNode, Tensor> { [rootNode] = gradient };
        var ready = new Stack<GradNode>();
        ready.Push(rootNode);
        while (ready.Count > 0)
        {
            var node = ready.Pop();
            grads.Remove(node, out var g);
            var edges = node.Edges;
            Tensor?[]? inputGrads = null;
            if (g is not null)
            {
                if (node.RetainTarget is { } keep) AccumulateLeaf(keep, g);
                long t0 = BackwardProfile.Start();
                inputGrads = node.Run(g);
                BackwardProfile.Stop(node, t0);
                if (inputGrads.Length != edges.Length)
                    throw new InvalidOperationException($"{node} returned {inputGrads.Length} gradients for {edges.Length} inputs.");
            }
            for (int i = 0; i < edges.Length; i++)
            {
                var edge = edges[i];
                if (edge.IsEmpty) continue;
                var gi = inputGrads?[i];
                if (gi is not null) CheckGradient(node, i, edge, gi);
                if (edge.Node is { } next)
                {
                    if (gi is not null)
                        grads[next] = grads.TryGetValue(next, out var sum) ? sum.Add(gi) : gi;
                    if (--pending[next] == 0) ready.Push(next);
                }
                else
                {
                    var leaf = edge.Leaf!;
                    if (gi is not null) AccumulateLeaf(leaf, gi);
                    // Its last edge, delivered or empty (a node that got no gradient still walks its edges): final.
                    if (leafPending is not null && --leafPending[leaf] == 0) observer!.LeafGradientFinal(leaf);
                }
            }
            if (!retainGraph) node.Release();
            // No kernel of this thread runs between nodes: the pool (if on) may recycle arrays of dead tensors here.
            TensorMemory.SafePoint();
            observer?.BetweenNodes();
        }
        // The forward's activations just died with the graph: make them available to the next step.
        if (!retainGraph) TensorMemory.Reclaim();
    }

    private static Tensor RootGradient(Tensor root, Tensor? gradient)
    {
        if (gradient is null)
        {
            if (root.NumElements != 1)
                throw new InvalidOperationException($"Backward: a gradient can be implied only for a one-element output, but this one has shape {ShapeUtil.Format(root.Shape)}; pass Backward(gradient) with a tensor of that shape.");
            return Tensor.OnesLike(root);
        }
        if (!ShapeUtil.SameShape(gradient.Shape, root.Shape) || gradient.Device != root.Device)
            throw new ArgumentException($"Backward: the gradient {ShapeUtil.Format(gradient.Shape)} on {gradient.Device} must match the output {ShapeUtil.Format(root.Shape)} on {root.Device}.");
        return gradient.To(root.DType);
    }

    /// <summary>For each node under the root, how many edges point at it (its consumers in this graph); with
    /// <paramref name="leafEdges"/>, also how many point at each leaf.</summary>
    private static Dictionary<GradNode, int> CountConsumers(GradNode root, Dictionary<Tensor, int>? leafEdges)
    {
        if (root.IsReleased)
            throw new InvalidOperationException($"Backward through {root} a second time: the graph was freed by the first Backward(). Pass retainGraph: true to the first call if you need to back-propagate twice.");
        var pending = new Dictionary<GradNode, int> { [root] = 0 };
        var stack = new Stack<GradNode>();
        stack.Push(root);
        while (stack.Count > 0)
        {
            foreach (var edge in stack.Pop().Edges)
            {
                if (edge.Node is not { } next)
                {
                    if (leafEdges is not null && edge.Leaf is { } leaf) leafEdges[leaf] = leafEdges.GetValueOrDefault(leaf) + 1;
                    continue;
                }
                if (pending.TryGetValue(next, out int n)) pending[next] = n + 1;
                else { pending[next] = 1; stack.Push(next); }
            }
        }
        return pending;
    }

    /// <summary>A wrong-shaped gradient is a bug in a backward function: say which one.</summary>
    private static void CheckGradient(GradNode node, int input, GradNode.Edge edge, Tensor g)
    {
        if (!ShapeUtil.SameShape(g.Shape, edge.Shape) || g.DType != edge.DType || g.Device != edge.Device)
            throw new InvalidOperationException($"{node} returned a {g.DType.Name()} {ShapeUtil.Format(g.Shape)} gradient on {g.Device} for input {input}, which is {edge.DType.Name()} {ShapeUtil.Format(edge.Shape)} on {edge.Device}.");
    }

    /// <summary>Leaf gradients are owned by the leaf: the first is copied (backward functions may return views or
    /// the same tensor for several inputs), later ones are added in place.</summary>
    private static void AccumulateLeaf(Tensor leaf, Tensor g)
    {
        if (leaf.Grad is null) leaf.Grad = g.Clone();
        else leaf.Grad.Add_(g);
    }
}
