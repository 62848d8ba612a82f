using System.Globalization;
using Sparkle.Autograd;
using Sparkle.Tensors;

namespace Sparkle.Nn.Optim;

/// <summary>
/// torch.optim.Optimizer: parameter groups, per-parameter state, <see cref="Step"/>, <see cref="ZeroGrad"/> and a
/// state dict for exact resume. Parameters are numbered 0, 1, ... across the groups in order (torch's
/// numbering); state is kept and saved by that index, with the parameter names alongside as a check.
/// Updates run under <see cref="GradMode.NoGrad"/> as backend primitives (IBackend.Optim.cs), so they run on any backend.
/// </summary>
public abstract class Optimizer
{
    private const string FormatTag = "sparkle.optim/1";
    private readonly ParamGroup[] _groups;
    private readonly int[] _groupOffset;
    private readonly Tensor[] _params;
    private readonly string[] _names;
    private readonly ParamState?[] _state;

    /// <param name="groups">The parameter groups; a group without lr / weight decay takes <paramref name="lr"/> /
    /// <paramref name="weightDecay"/>.</param>
    protected Optimizer(IEnumerable<ParamGroup> groups, double lr, double weightDecay)
    {
        ArgumentNullException.ThrowIfNull(groups);
        if (!(lr >= 0)) throw new ArgumentOutOfRangeException(nameof(lr), $"{GetType().Name}: lr must be >= 0, got {lr}.");
        if (!(weightDecay >= 0)) throw new ArgumentOutOfRangeException(nameof(weightDecay), $"{GetType().Name}: weight decay must be >= 0, got {weightDecay}.");
        _groups = groups.ToArray();
        var seen = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        _groupOffset = new int[_groups.Length];
        var ps = new List<Tensor>();
        var names = new List<string>();
        for (int g = 0; g < _groups.Length; g++)
        {
            var group = _groups[g] ?? throw new ArgumentNullException(nameof(groups), $"{GetType().Name}: group {g} is null.");
            if (!group.HasLr) group.Lr = lr;
            if (!group.HasWeightDecay) group.WeightDecay = weightDecay;
            _groupOffset[g] = ps.Count;
            for (int j = 0; j < group.Parameters.Count; j++)
            {
                var p = group.Parameters[j];
                string label = group.ParameterNames[j].Length > 0 ? $"'{group.ParameterNames[j]}'" : $"{j} of group {g}";
                if (!p.DType.IsFloating())
                    throw new ArgumentException($"{GetType().Name}: parameter {label} is {p.DType.Name()}; only floating tensors can be optimized.");
                if (!p.IsLeaf)
                    throw new ArgumentException($"{GetType().Name}: parameter {label} is not a leaf tensor; optimize the leaf it was computed from.");
                if (!seen.Add(p))
                    throw new ArgumentException($"{GetType().Name}: parameter {label} appears more than once in the parameter groups.");
                ps.Add(p);
                names.Add(group.ParameterNames[j]);
            }
        }
        if (ps.Count == 0) throw new ArgumentException($"{GetType().Name}: got an empty parameter list.");
        _params = [.. ps];
        _names = [.. names];
        _state = new ParamState?[_params.Length];
    }

    public IReadOnlyList<ParamGroup> ParamGroups => _groups;

    /// <summary>The backend primitives take a gradient exactly like its parameter (the seam does not convert); autograd
    /// always makes it so, a gradient set by hand may not.</summary>
    protected void CheckGrad(Tensor p, Tensor g)
    {
        if (!ShapeUtil.SameShape(p.Shape, g.Shape) || p.DType != g.DType || p.Device != g.Device)
            throw new InvalidOperationException($"{GetType().Name}: a gradient {ShapeUtil.Format(g.Shape)} {g.DType.Name()} on {g.Device} does not match its parameter {ShapeUtil.Format(p.Shape)} {p.DType.Name()} on {p.Device}.");
    }

    /// <summary>Short name saved in the state dict ("sgd", "adamw", "lamb"); loading checks it.</summary>
    public abstract string Kind { get; }

    /// <summary>Clears every parameter's gradient: drops it (torch's zero_grad(set_to_none=True), the default) or,
    /// with <paramref name="setToNone"/> false, fills the existing gradient tensors with zeros so the next backward
    /// accumulates into them — no new parameter-sized gradient per step (the training loops do this: every parameter
    /// gets a gradient every step there, so skipping untouched ones is moot).</summary>
    public void ZeroGrad(bool setToNone = true)
    {
        foreach (var p in _params)
        {
            if (setToNone) p.Grad = null;
            else p.Grad?.Zero_();
        }
    }

    /// <summary>One optimization step from the parameters' current gradients; parameters whose Grad is null are
    /// skipped (they keep their value and state).</summary>
    public void Step()
    {
        using (GradMode.NoGrad()) StepCore();
    }

    /// <summary>The update, called with grad mode off.</summary>
    protected abstract void StepCore();

    /// <summary>The state of a parameter of this optimizer (null before its first update), for inspection.</summary>
    public ParamState? StateOf(Tensor parameter)
    {
        int i = Array.FindIndex(_params, p => ReferenceEquals(p, parameter));
        if (i < 0) throw new ArgumentException($"{GetType().Name}: the tensor is not one of this optimizer's parameters.");
        return _state[i];
    }

    /// <summary>Index of parameter <paramref name="j"/> of group <paramref name="g"/> in the optimizer's numbering.</summary>
    protected int FlatIndex(int g, int j) => _groupOffset[g] + j;

    /// <summary>The state of parameter <paramref name="index"/>, created empty on first use.</summary>
    protected ParamState StateAt(int index) => _state[index] ??= new ParamState();

    // ---- hyper-parameters shared by all groups (saved under "defaults.") ----

    /// <summary>Writes the optimizer-wide hyper-parameters (betas, eps, momentum, ...) as invariant strings.</summary>
    protected abstract void WriteDefaults(IDictionary<string, string> defaults);

    /// <summary>Restores what <see cref="WriteDefaults"/> wrote; <paramref name="get"/> throws for a missing key.</summary>
    protected abstract void ReadDefaults(Func<string, string> get);

    protected static string Fmt(double v) => v.ToString("R", CultureInfo.InvariantCulture);
    protected static string Fmt(bool v) => v ? "true" : "false";
    protected static string Fmt(long v) => v.ToString(CultureInfo.InvariantCulture);
    protected static double ParseDouble(string s) => double.Parse(s, NumberStyles.Float, CultureInfo.InvariantCulture);
    protected static bool ParseBool(string s) => s switch
    {
        "true" => true,
        "false" => false,
        _ => throw new FormatException($"'{s}' is not a bool (true/false)."),
    };
    protected static long ParseLong(string s) => long.Parse(s, NumberStyles.Integer, CultureInfo.InvariantCulture);

    // ---- state dict ----

    /// <summary>
    /// The optimizer's state (docs/nn-optim.md): per-parameter tensors under <c>state.{i}.{buffer}</c> and
    /// everything else as invariant strings (group hyper-parameters, defaults, step counts, parameter names).
    /// The tensors are the optimizer's own, not copies (as torch and <see cref="Module.StateDict"/>): save them
    /// before the next step, or Clone() them to keep a snapshot.
    /// </summary>
    public OptimizerStateDict StateDict()
    {
        var tensors = new OrderedTensorDict();
        var s = new OrderedDictionary<string, string>
        {
            ["format"] = FormatTag,
            ["optimizer"] = Kind,
        };
        var defaults = new OrderedDictionary<string, string>();
        WriteDefaults(defaults);
        foreach (var (k, v) in defaults) s["defaults." + k] = v;
        s["param_groups"] = Fmt(_groups.Length);
        for (int g = 0; g < _groups.Length; g++)
        {
            var group = _groups[g];
            string p = $"param_groups.{g}.";
            s[p + "name"] = group.Name;
            s[p + "lr"] = Fmt(group.Lr);
            s[p + "weight_decay"] = Fmt(group.WeightDecay);
            s[p + "lr_scale"] = Fmt(group.LrScale);
            s[p + "weight_decay_scale"] = Fmt(group.WeightDecayScale);
            s[p + "step"] = Fmt(group.StepCount);
            s[p + "params"] = string.Join(",", Enumerable.Range(_groupOffset[g], group.Parameters.Count));
        }
        for (int i = 0; i < _params.Length; i++) s[$"param_names.{i}"] = _names[i];
        for (int i = 0; i < _params.Length; i++)
        {
            if (_state[i] is not { } st) continue;
            s[$"state.{i}.step"] = Fmt(st.Step);
            foreach (var (name, t) in st.Buffers) tensors.Add($"state.{i}.{name}", t);
        }
        return new OptimizerStateDict(tensors, s);
    }

    /// <summary>
    /// Restores a state written by <see cref="StateDict"/> of the same kind of optimizer over the same parameter
    /// layout (torch's load_state_dict): saved parameter i of group g maps to this optimizer's parameter at the
    /// same position of group g. Group lr, weight decay, scales and step counts and the optimizer-wide
    /// hyper-parameters are restored too. State tensors are copied (converted to each parameter's dtype and
    /// device). With <paramref name="checkNames"/>, a saved name that differs from the parameter's name (both
    /// non-empty) is an error. Everything is validated before anything changes.
    /// </summary>
    public void LoadStateDict(OptimizerStateDict state, bool checkNames = true)
    {
        ArgumentNullException.ThrowIfNull(state);
        var s = state.Scalars;
        string Get(string key) => s.TryGetValue(key, out var v) ? v
            : throw new InvalidOperationException($"{GetType().Name}.LoadStateDict: the state has no '{key}'.");
        if (Get("format") != FormatTag)
            throw new InvalidOperationException($"{GetType().Name}.LoadStateDict: unknown format '{Get("format")}', expected '{FormatTag}'.");
        if (Get("optimizer") != Kind)
            throw new InvalidOperationException($"{GetType().Name}.LoadStateDict: the state is of a '{Get("optimizer")}' optimizer, this is '{Kind}'.");
        long groupCount = ParseLong(Get("param_groups"));
        if (groupCount != _groups.Length)
            throw new InvalidOperationException($"{GetType().Name}.LoadStateDict: the state has {groupCount} parameter groups, this optimizer {_groups.Length}.");

        // saved index -> own index, group by group
        var map = new Dictionary<long, int>();
        for (int g = 0; g < _groups.Length; g++)
        {
            var raw = Get($"param_groups.{g}.params");
            var saved = raw.Length == 0 ? [] : raw.Split(',').Select(ParseLong).ToArray();
            if (saved.Length != _groups[g].Parameters.Count)
                throw new InvalidOperationException($"{GetType().Name}.LoadStateDict: group {g} has {saved.Length} parameters in the state, {_groups[g].Parameters.Count} here.");
            for (int j = 0; j < saved.Length; j++)
            {
                int own = FlatIndex(g, j);
                if (!map.TryAdd(saved[j], own))
                    throw new InvalidOperationException($"{GetType().Name}.LoadStateDict: saved parameter {saved[j]} is listed twice.");
                if (checkNames && s.TryGetValue($"param_names.{saved[j]}", out var savedName)
                    && savedName.Length > 0 && _names[own].Length > 0 && savedName != _names[own])
                    throw new InvalidOperationException($"{GetType().Name}.LoadStateDict: saved parameter {saved[j]} is '{savedName}', but position {j} of group {g} here is '{_names[own]}'.");
            }
        }

        // per-parameter entries
        var steps = new Dictionary<int, long>();
        var buffers = new Dictionary<int, List<(string Name, Tensor Value)>>();
        int OwnIndex(string key, string idx) => long.TryParse(idx, NumberStyles.Integer, CultureInfo.InvariantCulture, out var i) && map.TryGetValue(i, out var own) ? own
            : throw new InvalidOperationException($"{GetType().Name}.LoadStateDict: '{key}' names no saved parameter.");
        foreach (var (key, value) in s)
        {
            if (!key.StartsWith("state.", StringComparison.Ordinal)) continue;
            var parts = key.Split('.');
            if (parts.Length != 3 || parts[2] != "step")
                throw new InvalidOperationException($"{GetType().Name}.LoadStateDict: unexpected scalar '{key}'.");
            steps[OwnIndex(key, parts[1])] = ParseLong(value);
        }
        foreach (var (key, t) in state.Tensors)
        {
            var parts = key.Split('.', 3);
            if (parts.Length != 3 || parts[0] != "state" || parts[2].Length == 0)
                throw new InvalidOperationException($"{GetType().Name}.LoadStateDict: unexpected tensor '{key}' (expected state.<index>.<buffer>).");
            int own = OwnIndex(key, parts[1]);
            var p = _params[own];
            if (!ShapeUtil.SameShape(t.Shape, p.Shape))
                throw new InvalidOperationException($"{GetType().Name}.LoadStateDict: '{key}' has shape {ShapeUtil.Format(t.Shape)}, its parameter {ShapeUtil.Format(p.Shape)}.");
            if (!buffers.TryGetValue(own, out var list)) buffers[own] = list = [];
            list.Add((parts[2], t));
        }

        // parse group values before changing anything
        var groupValues = new (double Lr, double Wd, double LrScale, double WdScale, long Step)[_groups.Length];
        for (int g = 0; g < _groups.Length; g++)
        {
            string p = $"param_groups.{g}.";
            groupValues[g] = (ParseDouble(Get(p + "lr")), ParseDouble(Get(p + "weight_decay")), ParseDouble(Get(p + "lr_scale")),
                              ParseDouble(Get(p + "weight_decay_scale")), ParseLong(Get(p + "step")));
            if (!(groupValues[g].Lr >= 0) || !(groupValues[g].Wd >= 0))
                throw new InvalidOperationException($"{GetType().Name}.LoadStateDict: group {g} has lr {groupValues[g].Lr}, weight decay {groupValues[g].Wd}.");
        }
        ReadDefaults(k => Get("defaults." + k));

        for (int g = 0; g < _groups.Length; g++)
        {
            var (lr, wd, lrScale, wdScale, step) = groupValues[g];
            _groups[g].Lr = lr;
            _groups[g].WeightDecay = wd;
            _groups[g].LrScale = lrScale;
            _groups[g].WeightDecayScale = wdScale;
            _groups[g].StepCount = step;
        }
        Array.Clear(_state);
        using (GradMode.NoGrad())
        {
            foreach (var own in steps.Keys.Union(buffers.Keys))
            {
                var st = new ParamState { Step = steps.GetValueOrDefault(own) };
                var p = _params[own];
                if (buffers.TryGetValue(own, out var list))
                    foreach (var (name, t) in list)
                        st.Buffers[name] = Tensor.ZerosLike(p).Copy_(t.To(p.Device));
                _state[own] = st;
            }
        }
    }
}

/// <summary>Per-parameter optimizer state: a step count (AdamW counts per parameter) and named buffers
/// (momentum_buffer, exp_avg, exp_avg_sq), each shaped like the parameter.</summary>
public sealed class ParamState
{
    public long Step { get; set; }
    public OrderedDictionary<string, Tensor> Buffers { get; } = [];

    /// <summary>The buffer <paramref name="name"/>, created as zeros like <paramref name="like"/> on first use.</summary>
    public Tensor Buffer(string name, Tensor like)
    {
        if (!Buffers.TryGetValue(name, out var t)) Buffers[name] = t = Tensor.ZerosLike(like);
        return t;
    }
}

/// <summary>
/// An optimizer state dict: the tensors (<c>state.{i}.{buffer}</c>, ready to be stored as safetensors tensors)
/// and the scalars as invariant strings (ready to be stored as safetensors <c>__metadata__</c>). Key list in
/// docs/nn-optim.md.
/// </summary>
public sealed record OptimizerStateDict(OrderedTensorDict Tensors, IReadOnlyDictionary<string, string> Scalars);
