namespace Sparkle.Tensors.Backend;

/// <summary>Max-pool with winner indices (issue 15): the forward records which input each output took, the backward
/// sends each output gradient there.</summary>
public partial interface IBackend
{
    /// <summary>
    /// max_pool2d (dilation 1, floor mode) of contiguous float x (N, C, H, W) into fresh contiguous y (N, C, OH, OW), OH
    /// and OW as given (the caller checks them). Padding is skipped, not compared. The winner is the first maximum in
    /// row-major window order, and a NaN wins over numbers (the first NaN); a window whose real elements are all −inf
    /// (or all smaller than −inf: none) gives −inf and its first real element as winner, as torch's CPU kernel.
    /// winners, when given, is contiguous Int32 of y's shape: the winner's offset r·W + c in its input plane.
    /// </summary>
    void MaxPool2dForward(Tensor x, int kernel, int stride, int padding, Tensor y, Tensor? winners)
        => throw new NotSupportedException($"{GetType().Name} ({Device}) does not implement MaxPool2dForward.");

    /// <summary>gx (fresh, contiguous (N, C, H, W), written completely) = the sum, per input element, of the output
    /// gradients gy (contiguous (N, C, OH, OW)) whose winner it is; 0 elsewhere. Deterministic: each element adds its
    /// gradients in row-major output order. kernel, stride and padding are the forward's (a device may scan, per input
    /// element, the windows that contain it).</summary>
    void MaxPool2dBackward(Tensor gy, Tensor winners, int kernel, int stride, int padding, Tensor gx)
        => throw new NotSupportedException($"{GetType().Name} ({Device}) does not implement MaxPool2dBackward.");
}
