using Sparkle.Tensors;

namespace Sparkle.Nn.Optim;

/// <summary>
/// SparK's parameter grouping (utils/lr_control.py <c>get_param_groups</c>, SPARK.md §5.3). Only parameters that
/// require grad are included. A parameter is <b>no_decay</b> (weight-decay scale 0) when it is 1-D, or its name
/// ends in ".bias", or its name contains one of the no-weight-decay keys (SparK passes cls_token, pos_embed,
/// mask_token, gamma); everything else is <b>decay</b> (scale 1). Both have lr scale 1. Groups appear in the
/// order their first parameter appears (a dict in insertion order), and an empty group is not created.
/// </summary>
public static class ParamGroups
{
    /// <summary>The no-weight-decay name keys SparK's main passes: substrings, so "mask_token" also matches
    /// "mask_tokens.0" and "gamma" matches ConvNeXt's layer-scale parameters.</summary>
    public static IReadOnlyList<string> SparkNoWeightDecayKeys { get; } = ["cls_token", "pos_embed", "mask_token", "gamma"];

    /// <summary>Whether SparK puts this parameter in the no-decay group. Only rank 1 counts as "1-D"
    /// (len(shape) == 1): a 0-d parameter is decayed unless its name says otherwise.</summary>
    public static bool IsNoWeightDecay(string name, Tensor parameter, IEnumerable<string>? noWeightDecayKeys = null)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(parameter);
        var keys = noWeightDecayKeys ?? SparkNoWeightDecayKeys;
        return parameter.Rank == 1 || name.EndsWith(".bias", StringComparison.Ordinal)
            || keys.Any(k => name.Contains(k, StringComparison.Ordinal));
    }

    /// <summary>
    /// Splits named parameters (e.g. <see cref="Module.NamedParameters"/>) into the "decay" group (weight-decay
    /// scale 1) and the "no_decay" group (scale 0), lr scale 1 for both, with lr and weight decay left to the
    /// optimizer's defaults (SparK builds the optimizer with weight_decay 0 and lets <see cref="LrWdSchedule"/>
    /// set each group's value). <paramref name="noWeightDecayKeys"/> defaults to <see cref="SparkNoWeightDecayKeys"/>.
    /// </summary>
    public static IReadOnlyList<ParamGroup> Split(IEnumerable<(string Name, Tensor Parameter)> namedParameters, IEnumerable<string>? noWeightDecayKeys = null)
    {
        ArgumentNullException.ThrowIfNull(namedParameters);
        var keys = (noWeightDecayKeys ?? SparkNoWeightDecayKeys).ToArray();
        var order = new List<string>();
        var members = new Dictionary<string, List<(string, Tensor)>>();
        foreach (var (name, p) in namedParameters)
        {
            if (!p.RequiresGrad) continue;
            string group = IsNoWeightDecay(name, p, keys) ? "no_decay" : "decay";
            if (!members.TryGetValue(group, out var list))
            {
                members[group] = list = [];
                order.Add(group);
            }
            list.Add((name, p));
        }
        return order.Select(g => new ParamGroup(members[g], lrScale: 1, weightDecayScale: g == "decay" ? 1 : 0, name: g)).ToArray();
    }

    /// <summary>The groups of <paramref name="module"/>'s parameters (<see cref="Split"/>).</summary>
    public static IReadOnlyList<ParamGroup> Split(Module module, IEnumerable<string>? noWeightDecayKeys = null)
    {
        ArgumentNullException.ThrowIfNull(module);
        return Split(module.NamedParameters(), noWeightDecayKeys);
    }
}
