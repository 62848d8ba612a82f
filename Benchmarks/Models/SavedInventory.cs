using System.Reflection;
using Sparkle.Tensors;

namespace Sparkle.Benchmarks.Models;

/// <summary>What a forward pass keeps for the backward: walks the graph under a root and sums the storages each
/// node lists as saved (distinct storages counted once, at the first node that lists them), grouped by op name.
/// A benchmark diagnostic (reflection over the engine's private fields), for `quick spark saved=1`.</summary>
internal static class SavedInventory
{
    public static IEnumerable<(string Op, int Nodes, double Mb)> ByOp(Tensor root)
    {
        var nodeType = typeof(Sparkle.Autograd.GradNode);
        var savedField = nodeType.GetField("_saved", BindingFlags.NonPublic | BindingFlags.Instance)!;
        var backwardField = nodeType.GetField("_backward", BindingFlags.NonPublic | BindingFlags.Instance)!;
        var edgesProp = nodeType.GetProperty("Edges", BindingFlags.NonPublic | BindingFlags.Instance)!;
        var seenNodes = new HashSet<object>(ReferenceEqualityComparer.Instance);
        var seenStorages = new HashSet<object>(ReferenceEqualityComparer.Instance);
        var byOp = new Dictionary<string, (int Nodes, long Bytes)>();
        var stack = new Stack<object>();
        if (root.GradNode is { } r) { stack.Push(r); seenNodes.Add(r); }
        while (stack.Count > 0)
        {
            var node = stack.Pop();
            string name = node.ToString()!;
            long bytes = 0;
            foreach (var sv in (Array)savedField.GetValue(node)!)
            {
                var storage = (Storage)sv!.GetType().GetProperty("Storage")!.GetValue(sv)!;
                if (!seenStorages.Add(Identity(storage))) continue;
                bytes += (long)storage.Length * storage.DType.SizeOf();
            }
            bytes += Captured(backwardField.GetValue(node) as Delegate, seenStorages);
            var e = byOp.GetValueOrDefault(name);
            byOp[name] = (e.Nodes + 1, e.Bytes + bytes);
            foreach (var edge in (Array)edgesProp.GetValue(node)!)
            {
                var next = edge!.GetType().GetProperty("Node")!.GetValue(edge);
                if (next is not null && seenNodes.Add(next)) stack.Push(next);
            }
        }
        return byOp.OrderByDescending(kv => kv.Value.Bytes).Select(kv => (kv.Key, kv.Value.Nodes, kv.Value.Bytes / 1e6));
    }

    /// <summary>A CPU storage is its array (kernels capture the raw array).</summary>
    private static object Identity(Storage s) => s.GetType().GetProperty("Data")?.GetValue(s) ?? s;

    /// <summary>Bytes the backward closure holds beyond the listed saved tensors: tensors, storages and arrays in its
    /// captured fields (two levels of closure objects deep), each storage or array counted once overall.</summary>
    private static long Captured(Delegate? backward, HashSet<object> seen)
    {
        long bytes = 0;
        void Visit(object? o, int depth)
        {
            switch (o)
            {
                case null: return;
                case Tensor t: if (seen.Add(Identity(t.Storage))) bytes += (long)t.Storage.Length * t.Storage.DType.SizeOf(); return;
                case Storage st: if (seen.Add(Identity(st))) bytes += (long)st.Length * st.DType.SizeOf(); return;
                case Array a when a.GetType().GetElementType()!.IsPrimitive: if (seen.Add(a)) bytes += Buffer.ByteLength(a); return;
                case Array a: foreach (var e in a) Visit(e, depth); return;
                case Delegate d: if (depth < 3) Visit(d.Target, depth + 1); return;
            }
            var type = o.GetType();
            if (depth >= 3 || !type.Name.Contains('<')) return;            // compiler-generated closure classes only
            foreach (var f in type.GetFields(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance))
                Visit(f.GetValue(o), depth + 1);
        }
        Visit(backward?.Target, 0);
        return bytes;
    }
}
