using Sparkle.Tensors;

namespace Sparkle.Nn.Layers;

/// <summary>Runs its children in order; children are named "0", "1", ... (torch.nn.Sequential). Children are read
/// from the registry on every call, so <see cref="Module.ReplaceChild"/> takes effect. Between children it is a
/// memory safe point (<see cref="TensorMemory.SafePoint"/>): under a <see cref="TensorPool"/> the forward's
/// temporaries are reused within the same forward, not only after the backward (docs/tensors.md, "Memory").</summary>
public sealed class Sequential : Module
{
    public Sequential(params Module[] modules)
    {
        foreach (var m in modules) Append(m);
    }

    public Sequential Append(Module module)
    {
        RegisterModule(ChildCount.ToString(System.Globalization.CultureInfo.InvariantCulture), module);
        return this;
    }

    public Module this[int index] => ChildAt(index);
    public int Count => ChildCount;

    public override Tensor Forward(Tensor input)
    {
        for (int i = 0; i < ChildCount; i++)
        {
            input = ChildAt(i).Forward(input);
            TensorMemory.SafePoint();
        }
        return input;
    }
}

/// <summary>Holds modules under "0", "1", ... without a forward of its own (torch.nn.ModuleList).</summary>
public sealed class ModuleList : Module, IReadOnlyList<Module>
{
    public ModuleList(params Module[] modules)
    {
        foreach (var m in modules) Add(m);
    }

    public void Add(Module module) => RegisterModule(ChildCount.ToString(System.Globalization.CultureInfo.InvariantCulture), module);
    public Module this[int index] => ChildAt(index);
    public int Count => ChildCount;
    public IEnumerator<Module> GetEnumerator()
    {
        for (int i = 0; i < ChildCount; i++) yield return ChildAt(i);
    }

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
}
