using Sparkle.Tensors;

namespace Sparkle.Nn.Optim;

/// <summary>
/// torch.optim.SGD: coupled weight decay, momentum with dampening, Nesterov. Per parameter with a gradient g:
/// <code>
/// d = g + wd·p                                   (wd ≠ 0)
/// buf = d (first step), else buf = momentum·buf + (1 − dampening)·d
/// d = d + momentum·buf (nesterov), else d = buf  (momentum ≠ 0)
/// p = p − lr·d
/// </code>
/// State: <c>momentum_buffer</c> (only when momentum ≠ 0). SparK's "sgd" option is momentum 0.9, Nesterov.
/// </summary>
public sealed class Sgd : Optimizer
{
    public Sgd(IEnumerable<ParamGroup> groups, double lr, double momentum = 0, double dampening = 0, double weightDecay = 0, bool nesterov = false)
        : base(groups, lr, weightDecay)
    {
        Validate(momentum, dampening, nesterov);
        Momentum = momentum;
        Dampening = dampening;
        Nesterov = nesterov;
    }

    /// <summary>One group of named parameters.</summary>
    public Sgd(IEnumerable<(string Name, Tensor Parameter)> parameters, double lr, double momentum = 0, double dampening = 0, double weightDecay = 0, bool nesterov = false)
        : this([new ParamGroup(parameters)], lr, momentum, dampening, weightDecay, nesterov) { }

    public override string Kind => "sgd";
    public double Momentum { get; private set; }
    public double Dampening { get; private set; }
    public bool Nesterov { get; private set; }

    private static void Validate(double momentum, double dampening, bool nesterov)
    {
        if (!(momentum >= 0)) throw new ArgumentOutOfRangeException(nameof(momentum), $"Sgd: momentum must be >= 0, got {momentum}.");
        if (double.IsNaN(dampening)) throw new ArgumentOutOfRangeException(nameof(dampening), "Sgd: dampening is NaN.");
        if (nesterov && (momentum <= 0 || dampening != 0))
            throw new ArgumentException($"Sgd: Nesterov momentum requires a momentum > 0 and zero dampening (got momentum {momentum}, dampening {dampening}).");
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
                Tensor? buf = null;
                bool first = false;
                if (Momentum != 0)
                {
                    var st = StateAt(FlatIndex(gi, j));
                    first = !st.Buffers.ContainsKey("momentum_buffer");
                    buf = st.Buffer("momentum_buffer", p);
                }
                // one fused backend primitive per parameter (IBackend.Optim.cs): one launch on the ILGPU backend
                p.Backend.SgdStep(p, g, buf, new Sparkle.Tensors.Backend.SgdStepParams(lr, Momentum, Dampening, wd, Nesterov, first));
            }
        }
    }

    protected override void WriteDefaults(IDictionary<string, string> defaults)
    {
        defaults["momentum"] = Fmt(Momentum);
        defaults["dampening"] = Fmt(Dampening);
        defaults["nesterov"] = Fmt(Nesterov);
    }

    protected override void ReadDefaults(Func<string, string> get)
    {
        double momentum = ParseDouble(get("momentum")), dampening = ParseDouble(get("dampening"));
        bool nesterov = ParseBool(get("nesterov"));
        Validate(momentum, dampening, nesterov);
        (Momentum, Dampening, Nesterov) = (momentum, dampening, nesterov);
    }
}
