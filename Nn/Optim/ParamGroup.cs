using Sparkle.Tensors;

namespace Sparkle.Nn.Optim;

/// <summary>
/// One parameter group (a torch <c>param_groups</c> entry): its parameters with their dotted names, and the
/// hyper-parameters that may differ between groups and change between steps. Schedules write <see cref="Lr"/>
/// and <see cref="WeightDecay"/> before every step, multiplied by the group's <see cref="LrScale"/> and
/// <see cref="WeightDecayScale"/> (SparK's <c>lr_scale</c> / <c>weight_decay_scale</c>, docs/nn-optim.md).
/// A group whose lr or weight decay is not given takes the optimizer's default when the optimizer is built.
/// </summary>
public sealed class ParamGroup
{
    private double _lr = double.NaN, _weightDecay = double.NaN;

    /// <summary>A group of named parameters (e.g. from <see cref="Module.NamedParameters"/>).</summary>
    public ParamGroup(IEnumerable<(string Name, Tensor Parameter)> parameters, double? lr = null, double? weightDecay = null,
                      double lrScale = 1, double weightDecayScale = 1, string name = "")
    {
        ArgumentNullException.ThrowIfNull(parameters);
        var list = parameters.ToList();
        Parameters = list.Select(p => p.Parameter ?? throw new ArgumentNullException(nameof(parameters), $"ParamGroup: parameter '{p.Name}' is null.")).ToArray();
        ParameterNames = list.Select(p => p.Name ?? "").ToArray();
        Name = name ?? "";
        if (lr is double l) Lr = l;
        if (weightDecay is double w) WeightDecay = w;
        LrScale = lrScale;
        WeightDecayScale = weightDecayScale;
    }

    /// <summary>A group of unnamed parameters (their names are empty; state dicts then map by position only).</summary>
    public ParamGroup(IEnumerable<Tensor> parameters, double? lr = null, double? weightDecay = null,
                      double lrScale = 1, double weightDecayScale = 1, string name = "")
        : this(parameters.Select(p => ("", p)), lr, weightDecay, lrScale, weightDecayScale, name) { }

    /// <summary>A label ("decay", "no_decay" from <see cref="ParamGroups.Split"/>); informational.</summary>
    public string Name { get; }

    public IReadOnlyList<Tensor> Parameters { get; }

    /// <summary>The dotted name of each parameter ("" when unknown), aligned with <see cref="Parameters"/>.</summary>
    public IReadOnlyList<string> ParameterNames { get; }

    /// <summary>The learning rate this group uses at the next step (already scaled by <see cref="LrScale"/> when a
    /// schedule wrote it).</summary>
    public double Lr
    {
        get => _lr;
        set
        {
            if (!(value >= 0)) throw new ArgumentOutOfRangeException(nameof(value), $"ParamGroup '{Name}': lr must be >= 0, got {value}.");
            _lr = value;
        }
    }

    /// <summary>The weight decay this group uses at the next step (already scaled by <see cref="WeightDecayScale"/>
    /// when a schedule wrote it).</summary>
    public double WeightDecay
    {
        get => _weightDecay;
        set
        {
            if (!(value >= 0)) throw new ArgumentOutOfRangeException(nameof(value), $"ParamGroup '{Name}': weight decay must be >= 0, got {value}.");
            _weightDecay = value;
        }
    }

    /// <summary>Multiplier a schedule applies to its lr for this group (1 in SparK pre-training).</summary>
    public double LrScale { get; set; }

    /// <summary>Multiplier a schedule applies to its weight decay for this group (0 for no-decay, 1 for decay).</summary>
    public double WeightDecayScale { get; set; }

    /// <summary>Group-level step counter (LAMB keeps one per group, as timm does); 0 for optimizers that count
    /// per parameter.</summary>
    public long StepCount { get; set; }

    internal bool HasLr => !double.IsNaN(_lr);
    internal bool HasWeightDecay => !double.IsNaN(_weightDecay);

    public override string ToString() =>
        $"ParamGroup('{Name}', {Parameters.Count} params, lr={Lr}, weight_decay={WeightDecay}, lr_scale={LrScale}, weight_decay_scale={WeightDecayScale})";
}
