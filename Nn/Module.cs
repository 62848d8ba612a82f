using Sparkle.Autograd;
using Sparkle.Tensors;

namespace Sparkle.Nn;

/// <summary>
/// torch.nn.Module: a tree of modules owning parameters (leaves that require grad) and buffers (state such
/// as BN running statistics), with dotted names as in timm (<c>layer1.0.conv1.weight</c>). Registration
/// order is iteration order, so state dicts list keys in PyTorch's order. Subclasses register in their
/// constructor and keep typed references to what they registered.
/// </summary>
public abstract class Module
{
    private readonly List<(string Name, Tensor? Value)> _parameters = [];
    private readonly List<(string Name, Tensor? Value, bool Persistent)> _buffers = [];
    private readonly List<(string Name, Module Value)> _children = [];

    /// <summary>True in training mode (the default); BN uses batch statistics and dropout drops.</summary>
    public bool Training { get; private set; } = true;

    /// <summary>The module's computation for one input (modules with other signatures add their own methods).</summary>
    public virtual Tensor Forward(Tensor input)
        => throw new NotSupportedException($"{GetType().Name} does not take a single tensor; call its own forward method.");

    /// <summary>The class name, like torch's repr.</summary>
    public override string ToString() => GetType().Name;

    // ---- registration (constructors) ----

    /// <summary>Registers a parameter under <paramref name="name"/> and marks it as requiring grad. Null registers
    /// the name without a tensor (torch's bias=None), so it appears in no state dict.</summary>
    protected Tensor RegisterParameter(string name, Tensor value)
    {
        CheckNewName(name);
        if (!value.DType.IsFloating())
            throw new ArgumentException($"{GetType().Name}: parameter '{name}' must be floating, got {value.DType.Name()}.");
        if (!value.IsLeaf) value = value.Detach();
        AutogradRuntime.Install(); // Tensors does not find Autograd by itself (no arrow up the stack)
        value.RequiresGrad = true;
        _parameters.Add((name, value));
        return value;
    }

    /// <summary>Registers state that is not trained (running statistics, counters). Non-persistent buffers are not
    /// in the state dict.</summary>
    protected Tensor RegisterBuffer(string name, Tensor value, bool persistent = true)
    {
        CheckNewName(name);
        _buffers.Add((name, value, persistent));
        return value;
    }

    protected T RegisterModule<T>(string name, T module) where T : Module
    {
        CheckNewName(name);
        _children.Add((name, module));
        return module;
    }

    /// <summary>
    /// Swaps the child registered under <paramref name="name"/> (model surgery: sparse conversion, freezing, fusing).
    /// Forward code must therefore reach children through <see cref="Child{T}"/> (or a property over it), not through a
    /// field captured at construction, or it would keep calling the old module.
    /// </summary>
    public void ReplaceChild(string name, Module replacement)
    {
        ArgumentNullException.ThrowIfNull(replacement);
        int i = _children.FindIndex(c => c.Name == name);
        if (i < 0) throw new ArgumentException($"{GetType().Name} has no child '{name}' (children: {string.Join(", ", _children.Select(c => c.Name))}).");
        _children[i] = (name, replacement);
    }

    /// <summary>The child registered under <paramref name="name"/>, as <typeparamref name="T"/>.</summary>
    protected T Child<T>(string name) where T : Module
    {
        foreach (var (n, m) in _children)
            if (n == name)
                return m as T ?? throw new InvalidOperationException($"{GetType().Name}.{name} is a {m.GetType().Name}, not a {typeof(T).Name}.");
        throw new ArgumentException($"{GetType().Name} has no child '{name}'.");
    }

    /// <summary>The child at position <paramref name="index"/> in registration order.</summary>
    protected Module ChildAt(int index) => _children[index].Value;

    protected int ChildCount => _children.Count;

    private void CheckNewName(string name)
    {
        if (string.IsNullOrEmpty(name) || name.Contains('.'))
            throw new ArgumentException($"{GetType().Name}: '{name}' is not a valid member name (non-empty, no dots).");
        if (_parameters.Any(p => p.Name == name) || _buffers.Any(b => b.Name == name) || _children.Any(c => c.Name == name))
            throw new ArgumentException($"{GetType().Name}: '{name}' is already registered.");
    }

    // ---- traversal ----

    public IEnumerable<(string Name, Module Module)> NamedChildren() => _children.Select(c => (c.Name, c.Value));
    public IEnumerable<Module> Children() => _children.Select(c => c.Value);

    /// <summary>This module ("" as its name) and every descendant, depth first in registration order.</summary>
    public IEnumerable<(string Name, Module Module)> NamedModules(string prefix = "")
    {
        yield return (prefix, this);
        foreach (var (name, child) in _children)
            foreach (var item in child.NamedModules(Join(prefix, name)))
                yield return item;
    }

    public IEnumerable<(string Name, Tensor Parameter)> NamedParameters(string prefix = "")
    {
        foreach (var (name, p) in _parameters)
            if (p is not null) yield return (Join(prefix, name), p);
        foreach (var (name, child) in _children)
            foreach (var item in child.NamedParameters(Join(prefix, name)))
                yield return item;
    }

    public IEnumerable<Tensor> Parameters() => NamedParameters().Select(p => p.Parameter);

    public IEnumerable<(string Name, Tensor Buffer)> NamedBuffers(string prefix = "", bool persistentOnly = false)
    {
        foreach (var (name, b, persistent) in _buffers)
            if (b is not null && (persistent || !persistentOnly)) yield return (Join(prefix, name), b);
        foreach (var (name, child) in _children)
            foreach (var item in child.NamedBuffers(Join(prefix, name), persistentOnly))
                yield return item;
    }

    /// <summary>Total number of parameter elements (what papers and timm report).</summary>
    public long NumParameters() => Parameters().Sum(p => (long)p.NumElements);

    private static string Join(string prefix, string name) => prefix.Length == 0 ? name : prefix + "." + name;

    // ---- modes ----

    /// <summary>Sets training mode on this module and every descendant; returns this.</summary>
    public Module Train(bool training = true)
    {
        foreach (var (_, m) in NamedModules()) m.Training = training;
        return this;
    }

    public Module Eval() => Train(false);

    /// <summary>Moves every parameter and buffer to <paramref name="device"/> in place (the tensors keep their identity,
    /// so layers and optimizers built before still see them; gradients are dropped). Returns this.</summary>
    public Module To(Device device)
    {
        using var _ = GradMode.NoGrad();
        foreach (var (_, m) in NamedModules())
        {
            foreach (var (_, t) in m._parameters) if (t is not null && t.Device != device) t.SetData(t.To(device));
            foreach (var (_, t, _) in m._buffers) if (t is not null && t.Device != device) t.SetData(t.To(device));
        }
        return this;
    }

    /// <summary>Clears every parameter's gradient (torch's zero_grad(set_to_none=True)).</summary>
    public void ZeroGrad()
    {
        foreach (var p in Parameters()) p.Grad = null;
    }

    // ---- state dicts ----

    /// <summary>Parameters and persistent buffers by dotted name, in registration order. The tensors are the
    /// module's own (not copies): save them, or Clone() them to keep a snapshot.</summary>
    public IReadOnlyDictionary<string, Tensor> StateDict()
    {
        var dict = new OrderedTensorDict();
        foreach (var (name, module) in NamedModules())
        {
            foreach (var (p, t) in module._parameters) if (t is not null) dict.Add(Join(name, p), t);
            foreach (var (b, t, persistent) in module._buffers) if (t is not null && persistent) dict.Add(Join(name, b), t);
        }
        return dict;
    }

    /// <summary>
    /// Copies values into this module's parameters and buffers (in place, so optimizers keep their references).
    /// Strict mode throws when keys are missing or unexpected; shapes must always match (<see cref="ShapeFits"/>). Values
    /// are converted to each target's dtype and device. Returns the keys that were missing and unexpected (non-strict use).
    /// </summary>
    public StateDictLoadResult LoadStateDict(IReadOnlyDictionary<string, Tensor> state, bool strict = true)
    {
        ArgumentNullException.ThrowIfNull(state);
        var own = StateDict();
        var missing = own.Keys.Where(k => !state.ContainsKey(k)).ToList();
        var unexpected = state.Keys.Where(k => !own.ContainsKey(k)).ToList();
        var misShaped = own.Where(kv => state.TryGetValue(kv.Key, out var v) && !ShapeFits(kv.Value.Shape, v.Shape))
            .Select(kv => $"{kv.Key}: expected {ShapeUtil.Format(kv.Value.Shape)}, got {ShapeUtil.Format(state[kv.Key].Shape)}").ToList();
        if (misShaped.Count > 0 || (strict && (missing.Count > 0 || unexpected.Count > 0)))
        {
            var lines = new List<string> { $"LoadStateDict into {GetType().Name} failed:" };
            if (missing.Count > 0) lines.Add($"  missing keys ({missing.Count}): {string.Join(", ", missing)}");
            if (unexpected.Count > 0) lines.Add($"  unexpected keys ({unexpected.Count}): {string.Join(", ", unexpected)}");
            if (misShaped.Count > 0) lines.Add($"  shape mismatches ({misShaped.Count}): {string.Join("; ", misShaped)}");
            throw new InvalidOperationException(string.Join(Environment.NewLine, lines));
        }
        using (GradMode.NoGrad())
        {
            foreach (var (key, target) in own)
                if (state.TryGetValue(key, out var value))
                    target.Copy_((value.Rank == target.Rank ? value : value.Reshape()).To(target.Device));
        }
        return new StateDictLoadResult(missing, unexpected);
    }

    /// <summary>Whether a saved tensor of shape <paramref name="saved"/> loads into <paramref name="target"/>: the same
    /// shape, or a shape-(1) value for a 0-d target (torch's _load_from_state_dict accepts it: scalars such as BN's
    /// num_batches_tracked were saved with shape (1) before torch 0.4, and some converters still write them so).</summary>
    public static bool ShapeFits(ReadOnlySpan<int> target, ReadOnlySpan<int> saved) =>
        ShapeUtil.SameShape(target, saved) || (target.Length == 0 && saved.Length == 1 && saved[0] == 1);
}

/// <summary>Keys of <see cref="Module.LoadStateDict"/> that were not found in the state, and state keys the module does not have.</summary>
public sealed record StateDictLoadResult(IReadOnlyList<string> MissingKeys, IReadOnlyList<string> UnexpectedKeys);
