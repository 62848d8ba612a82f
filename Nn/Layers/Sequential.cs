using Sparkle.Tensors;

namespace Sparkle.Nn.Layers;

/// <summary>Runs its children in order; children are named "0", "1", ... (torch.nn.Sequential).</summary>
public sealed class Sequential : Module
{
    private readonly List<Module> _items = [];

    public Sequential(params Module[] modules)
    {
        foreach (var m in modules) Append(m);
    }

    public Sequential Append(Module module)
    {
        _items.Add(RegisterModule(_items.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), module));
        return this;
    }

    public Module this[int index] => _items[index];
    public int Count => _items.Count;

    public override Tensor Forward(Tensor input)
    {
        foreach (var m in _items) input = m.Forward(input);
        return input;
    }
}

/// <summary>Holds modules under "0", "1", ... without a forward of its own (torch.nn.ModuleList).</summary>
public sealed class ModuleList : Module, IReadOnlyList<Module>
{
    private readonly List<Module> _items = [];

    public ModuleList(params Module[] modules)
    {
        foreach (var m in modules) Add(m);
    }

    public void Add(Module module) => _items.Add(RegisterModule(_items.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), module));
    public Module this[int index] => _items[index];
    public int Count => _items.Count;
    public IEnumerator<Module> GetEnumerator() => _items.GetEnumerator();
    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
}
