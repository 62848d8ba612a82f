using Sparkle.Tensors;

namespace Sparkle.Nn.Optim;

/// <summary>
/// torch.optim.AdamW (amsgrad false): decoupled weight decay, bias correction, eps outside the square root.
/// Per parameter with a gradient g, with its own step count t:
/// <code>
/// p = p·(1 − lr·wd)
/// m = β1·m + (1 − β1)·g
/// v = β2·v + (1 − β2)·g²
/// p = p − (lr / (1 − β1^t)) · m / (sqrt(v) / sqrt(1 − β2^t) + eps)
/// </code>
/// State: <c>step</c> (a scalar), <c>exp_avg</c>, <c>exp_avg_sq</c>. Defaults are torch's.
/// </summary>
public sealed class AdamW : Optimizer
{
    public AdamW(IEnumerable<ParamGroup> groups, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weightDecay = 1e-2)
        : base(groups, lr, weightDecay)
    {
        Validate(beta1, beta2, eps);
        (Beta1, Beta2, Eps) = (beta1, beta2, eps);
    }

    /// <summary>One group of named parameters.</summary>
    public AdamW(IEnumerable<(string Name, Tensor Parameter)> parameters, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weightDecay = 1e-2)
        : this([new ParamGroup(parameters)], lr, beta1, beta2, eps, weightDecay) { }

    public override string Kind => "adamw";
    public double Beta1 { get; private set; }
    public double Beta2 { get; private set; }
    public double Eps { get; private set; }

    internal static void Validate(double beta1, double beta2, double eps)
    {
        if (!(beta1 >= 0 && beta1 < 1)) throw new ArgumentOutOfRangeException(nameof(beta1), $"beta1 must be in [0, 1), got {beta1}.");
        if (!(beta2 >= 0 && beta2 < 1)) throw new ArgumentOutOfRangeException(nameof(beta2), $"beta2 must be in [0, 1), got {beta2}.");
        if (!(eps >= 0)) throw new ArgumentOutOfRangeException(nameof(eps), $"eps must be >= 0, got {eps}.");
    }

    protected override void StepCore()
    {
        for (int gi = 0; gi < ParamGroups.Count; gi++)
        {
            var group = ParamGroups[gi];
            double lr = group.Lr, wd = group.WeightDecay;
            for (int j = 0; j < group.Parameters.Count; j++)
            {
                var p = group.Parameters[j];
                if (p.Grad is not { } g) continue;
                CheckGrad(p, g);
                var st = StateAt(FlatIndex(gi, j));
                var m = st.Buffer("exp_avg", p);
                var v = st.Buffer("exp_avg_sq", p);
                long t = ++st.Step;
                double bc1 = 1 - Math.Pow(Beta1, t), bc2 = 1 - Math.Pow(Beta2, t);
                // one fused backend primitive per parameter (IBackend.Optim.cs): one launch on the ILGPU backend
                p.Backend.AdamWStep(new(p, g, m, v), new Sparkle.Tensors.Backend.AdamWStepParams(lr, Beta1, Beta2, Eps, bc1, bc2, wd));
            }
        }
    }

    protected override void WriteDefaults(IDictionary<string, string> defaults)
    {
        defaults["beta1"] = Fmt(Beta1);
        defaults["beta2"] = Fmt(Beta2);
        defaults["eps"] = Fmt(Eps);
    }

    protected override void ReadDefaults(Func<string, string> get)
    {
        double b1 = ParseDouble(get("beta1")), b2 = ParseDouble(get("beta2")), eps = ParseDouble(get("eps"));
        Validate(b1, b2, eps);
        (Beta1, Beta2, Eps) = (b1, b2, eps);
    }
}
