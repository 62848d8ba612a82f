using Sparkle.Tensors;

namespace Sparkle.Nn.Optim;

/// <summary>
/// LAMB as SparK uses it (utils/lamb.py, a copy of timm 0.5.4 Lamb, NVLAMB style; SPARK.md §5.4). Per step:
/// <list type="number">
/// <item>g_norm = sqrt(Σ grad²) over every parameter with a gradient in every group (the pre-clip norm,
///   kept in <see cref="GlobalGradNorm"/>).</item>
/// <item>clip = 1 / max(g_norm / max_grad_norm, 1); every gradient is multiplied by it <b>in place</b>.</item>
/// <item>Per group: step += 1 (<see cref="ParamGroup.StepCount"/>), bc1 = 1 − β1^step, bc2 = 1 − β2^step.</item>
/// <item>Per parameter with a gradient: m = β1·m + (1−β1)·g; v = β2·v + (1−β2)·g²;
///   update = (m / (sqrt(v)/sqrt(bc2) + eps)) / bc1; if wd ≠ 0: update += wd·p; if wd ≠ 0 (or always_adapt):
///   update ·= ‖p‖/‖update‖ when both norms are > 0, else 1 (capped at 1 with trust_clip); p −= lr·update.</item>
/// </list>
/// The no-decay group (wd 0) therefore takes a plain Adam step without trust ratio. The defaults are the values
/// SparK passes (eps 1e-6, max_grad_norm 5); timm's own defaults differ (max_grad_norm 1, weight_decay 0.01).
/// SparK's β2 is 0.95 for ResNet and 0.999 for ConvNeXt. State: <c>exp_avg</c>, <c>exp_avg_sq</c>; the step
/// count lives in the group. The global norm accumulates in the gradients' dtype (timm: a float32 tensor).
/// Everything stays on the device: the norm is a 0-d tensor, the clip factor and trust ratios are computed by the
/// backend's LambStep from device values, so a step needs no host read.
/// </summary>
public sealed class Lamb : Optimizer
{
    public Lamb(IEnumerable<ParamGroup> groups, double lr, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-6,
                double weightDecay = 0, double? maxGradNorm = 5.0, bool biasCorrection = true, bool gradAveraging = true,
                bool trustClip = false, bool alwaysAdapt = false)
        : base(groups, lr, weightDecay)
    {
        Validate(beta1, beta2, eps, maxGradNorm);
        (Beta1, Beta2, Eps, MaxGradNorm) = (beta1, beta2, eps, maxGradNorm);
        (BiasCorrection, GradAveraging, TrustClip, AlwaysAdapt) = (biasCorrection, gradAveraging, trustClip, alwaysAdapt);
    }

    /// <summary>One group of named parameters.</summary>
    public Lamb(IEnumerable<(string Name, Tensor Parameter)> parameters, double lr, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-6,
                double weightDecay = 0, double? maxGradNorm = 5.0)
        : this([new ParamGroup(parameters)], lr, beta1, beta2, eps, weightDecay, maxGradNorm) { }

    public override string Kind => "lamb";
    public double Beta1 { get; private set; }
    public double Beta2 { get; private set; }
    public double Eps { get; private set; }

    /// <summary>The global clipping threshold; null disables clipping (and the norm computation).</summary>
    public double? MaxGradNorm { get; private set; }
    public bool BiasCorrection { get; private set; }
    public bool GradAveraging { get; private set; }
    public bool TrustClip { get; private set; }
    public bool AlwaysAdapt { get; private set; }

    /// <summary>The pre-clip global gradient norm of the last step (a 0-d tensor on the parameters' device; read it
    /// with Item() when logging). Null before the first step or when clipping is off.</summary>
    public Tensor? GlobalGradNorm { get; private set; }

    private static void Validate(double beta1, double beta2, double eps, double? maxGradNorm)
    {
        AdamW.Validate(beta1, beta2, eps);
        if (maxGradNorm is double c && !(c > 0))
            throw new ArgumentOutOfRangeException(nameof(maxGradNorm), $"Lamb: max_grad_norm must be > 0, got {c}.");
    }

    protected override void StepCore()
    {
        // Everything runs as backend primitives (IBackend.Optim.cs): the global norm is one multi-tensor sum of squares,
        // and each group's update one LambStep per (device, dtype): on the ILGPU backend about 2 launches per parameter.
        GlobalGradNorm = null;
        if (MaxGradNorm is not null)
        {
            var grads = ParamGroups.SelectMany(g => g.Parameters).Select(p => p.Grad).OfType<Tensor>().ToList();
            if (grads.Count > 0) GlobalGradNorm = GradClipping.SumOfSquares(grads).Sqrt();
        }

        double beta3 = GradAveraging ? 1 - Beta1 : 1;
        for (int gi = 0; gi < ParamGroups.Count; gi++)
        {
            var group = ParamGroups[gi];
            long step = ++group.StepCount;
            double bc1 = BiasCorrection ? 1 - Math.Pow(Beta1, step) : 1;
            double bc2 = BiasCorrection ? 1 - Math.Pow(Beta2, step) : 1;
            var hp = new Sparkle.Tensors.Backend.LambStepParams(group.Lr, Beta1, Beta2, beta3, Eps, bc1, bc2, group.WeightDecay,
                TrustClip, AlwaysAdapt, MaxGradNorm ?? 0);
            var slots = new List<Sparkle.Tensors.Backend.AdamSlot>();
            for (int j = 0; j < group.Parameters.Count; j++)
            {
                var p = group.Parameters[j];
                if (p.Grad is not { } g) continue;
                CheckGrad(p, g);
                var st = StateAt(FlatIndex(gi, j));
                slots.Add(new(p, g, st.Buffer("exp_avg", p), st.Buffer("exp_avg_sq", p)));
            }
            foreach (var part in slots.GroupBy(s => (s.Param.Device, s.Param.DType)))
            {
                var norm = GlobalGradNorm?.To(part.Key.DType);
                part.First().Param.Backend.LambStep([.. part], hp, norm);
            }
        }
    }

    protected override void WriteDefaults(IDictionary<string, string> defaults)
    {
        defaults["beta1"] = Fmt(Beta1);
        defaults["beta2"] = Fmt(Beta2);
        defaults["eps"] = Fmt(Eps);
        defaults["max_grad_norm"] = MaxGradNorm is double c ? Fmt(c) : "none";
        defaults["bias_correction"] = Fmt(BiasCorrection);
        defaults["grad_averaging"] = Fmt(GradAveraging);
        defaults["trust_clip"] = Fmt(TrustClip);
        defaults["always_adapt"] = Fmt(AlwaysAdapt);
    }

    protected override void ReadDefaults(Func<string, string> get)
    {
        double b1 = ParseDouble(get("beta1")), b2 = ParseDouble(get("beta2")), eps = ParseDouble(get("eps"));
        var mgn = get("max_grad_norm");
        double? maxGradNorm = mgn == "none" ? null : ParseDouble(mgn);
        bool bc = ParseBool(get("bias_correction")), ga = ParseBool(get("grad_averaging"));
        bool tc = ParseBool(get("trust_clip")), aa = ParseBool(get("always_adapt"));
        Validate(b1, b2, eps, maxGradNorm);
        (Beta1, Beta2, Eps, MaxGradNorm) = (b1, b2, eps, maxGradNorm);
        (BiasCorrection, GradAveraging, TrustClip, AlwaysAdapt) = (bc, ga, tc, aa);
    }
}
