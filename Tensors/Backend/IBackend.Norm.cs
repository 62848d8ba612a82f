namespace Sparkle.Tensors.Backend;

/// <summary>Training-mode batch norm with the following activation fused (issue 15). Evaluation mode is composed
/// above the seam (Nn/Functional/Normalization.cs): it is one scale-and-shift with known statistics.</summary>
public partial interface IBackend
{
    /// <summary>
    /// y = act(BN(x)) with the batch statistics of each channel: mean and biased variance over the
    /// <see cref="BatchNormShape.Count"/> values of the channel (<see cref="BatchNormShape"/>: x is contiguous (N, C, *)
    /// planes or a contiguous (n, C) rows matrix; float32/float64). weight and bias are null or contiguous (C) of x's dtype.
    /// y is fresh, contiguous, x's shape and dtype, written completely. saveMean and saveInvStd are contiguous Float64 (C):
    /// the batch mean and 1/sqrt(var + eps), which the backward reads. When given (both or neither), runningMean and
    /// runningVar, contiguous (C) of x's dtype, are updated in place on the device: running = (1 − momentum)·running +
    /// momentum·batch, with the unbiased variance (var·n/(n − 1)) for runningVar. Throws when a channel has at most one
    /// value (PyTorch: "Expected more than 1 value per channel when training"), before writing anything.
    /// </summary>
    void BatchNormTrainForward(Tensor x, Tensor? weight, Tensor? bias, double eps, Activation act, Tensor y, Tensor saveMean, Tensor saveInvStd,
        Tensor? runningMean = null, Tensor? runningVar = null, double momentum = 0.1)
        => throw new NotSupportedException($"{GetType().Name} ({Device}) does not implement BatchNormTrainForward.");

    /// <summary>
    /// The backward of <see cref="BatchNormTrainForward"/>: gy (contiguous, x's shape) is first masked by the activation's
    /// derivative read from the forward's output y (ReLU: y &gt; 0; ReLU6: 0 &lt; y &lt; 6; y may be null when act is
    /// None), then gx = w·istd·(g − mean(g) − x̂·mean(g·x̂)), gWeight = Σ g·x̂, gBias = Σ g per channel. Each of gx (fresh,
    /// contiguous, x's shape), gWeight and gBias ((C), x's dtype) is written completely when given and skipped when null.
    /// </summary>
    void BatchNormTrainBackward(Tensor gy, Tensor x, Tensor? y, Tensor? weight, Tensor saveMean, Tensor saveInvStd, Activation act,
        Tensor? gx, Tensor? gWeight, Tensor? gBias)
        => throw new NotSupportedException($"{GetType().Name} ({Device}) does not implement BatchNormTrainBackward.");
}
