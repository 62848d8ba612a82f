namespace Sparkle.Tensors.Backend;

/// <summary>One parameter of an Adam-family step: the parameter, its gradient and its two moment buffers (all the
/// same shape, dtype and device).</summary>
public readonly record struct AdamSlot(Tensor Param, Tensor Grad, Tensor ExpAvg, Tensor ExpAvgSq);

/// <summary>
/// One LAMB step over one parameter group (docs/nn-optim.md): the optimizer has already turned the group's step
/// count into bias corrections. <see cref="GradCoef"/> is β3 (1 − β1 with grad averaging, else 1). With a trust ratio
/// (<see cref="WeightDecay"/> ≠ 0 or <see cref="AlwaysAdapt"/>) the update is scaled by ‖p‖/‖update‖ per tensor.
/// <see cref="MaxGradNorm"/> is only read when the step gets a gradient norm to clip with.
/// </summary>
public readonly record struct LambStepParams(double Lr, double Beta1, double Beta2, double GradCoef, double Eps,
    double Bc1, double Bc2, double WeightDecay, bool TrustClip, bool AlwaysAdapt, double MaxGradNorm)
{
    /// <summary>Whether the update of each tensor is scaled by its trust ratio (and so needs ‖p‖ and ‖update‖).</summary>
    public bool UsesTrust => WeightDecay != 0 || AlwaysAdapt;
}

/// <summary>One AdamW step of one parameter (torch.optim.AdamW): bias corrections of the parameter's own step count.</summary>
public readonly record struct AdamWStepParams(double Lr, double Beta1, double Beta2, double Eps, double Bc1, double Bc2, double WeightDecay);

/// <summary>One SGD step of one parameter (torch.optim.SGD). <see cref="FirstStep"/>: the momentum buffer is set to the
/// (decayed) gradient instead of being updated, as torch does when it creates the buffer.</summary>
public readonly record struct SgdStepParams(double Lr, double Momentum, double Dampening, double WeightDecay, bool Nesterov, bool FirstStep);
