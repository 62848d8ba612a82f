using System.Collections;
using Sparkle.Tensors;

namespace Sparkle.Nn;

/// <summary>A name -> tensor map that iterates in insertion order (a state dict; Python dicts are ordered,
/// .NET's Dictionary is not guaranteed to be).</summary>
public sealed class OrderedTensorDict : IReadOnlyDictionary<string, Tensor>
{
    private readonly Dictionary<string, Tensor> _map = [];
    private readonly List<string> _order = [];

    public void Add(string key, Tensor value)
    {
        if (!_map.TryAdd(key, value)) throw new ArgumentException($"Duplicate state key '{key}'.");
        _order.Add(key);
    }

    public Tensor this[string key] => _map.TryGetValue(key, out var t) ? t : throw new KeyNotFoundException($"No tensor named '{key}'.");
    public IEnumerable<string> Keys => _order;
    public IEnumerable<Tensor> Values => _order.Select(k => _map[k]);
    public int Count => _order.Count;
    public bool ContainsKey(string key) => _map.ContainsKey(key);
    public bool TryGetValue(string key, out Tensor value) => _map.TryGetValue(key, out value!);
    public IEnumerator<KeyValuePair<string, Tensor>> GetEnumerator() => _order.Select(k => new KeyValuePair<string, Tensor>(k, _map[k])).GetEnumerator();
    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
