using Sparkle.Tensors.Backend;

namespace Sparkle.Tensors.Autograd;

/// <summary>
/// One method per differentiable op family of the tensor core. Each receives the op's inputs as the user
/// passed them, its parameters and its raw result <c>y</c> (computed with recording paused), and returns
/// <c>y</c> with a graph node attached. Ops that are compositions of these (Stack, Split, Chunk, Flatten,
/// Var-free composites, RepeatInterleave, MaskedSelect, ...) need no entry: their parts record.
/// Implemented by Sparkle.Autograd.Recorder.
/// </summary>
internal interface IGradRecorder
{
    /// <summary>Add, Sub, Mul, Div, Pow, Maximum, Minimum; a scalar operand arrives as a 0-d tensor.</summary>
    Tensor Binary(BinaryOp op, Tensor a, Tensor b, Tensor y);
    /// <summary>Unary ops with their parameters (PowScalar: p0 = exponent; Clamp: p0 = min, p1 = max).</summary>
    Tensor Unary(UnaryOp op, Tensor x, double p0, double p1, Tensor y);
    /// <summary>Sum, Mean, Var, Max, Min over sorted distinct <paramref name="axes"/>.</summary>
    Tensor Reduce(ReduceOp op, Tensor x, int[] axes, bool keepDim, int correction, Tensor y);
    /// <summary>torch.matmul (also mm and bmm).</summary>
    Tensor MatMul(Tensor a, Tensor b, Tensor y);
    /// <summary>Same elements in the same row-major order, new shape (view, reshape, squeeze, unsqueeze).</summary>
    Tensor Reshape(Tensor x, Tensor y);
    Tensor Permute(Tensor x, int[] dims, Tensor y);
    /// <summary>Elements start, start+step, ... along dim (normalised, in range); y holds them.</summary>
    Tensor Slice(Tensor x, int dim, int start, int step, Tensor y);
    Tensor Select(Tensor x, int dim, int index, Tensor y);
    Tensor Expand(Tensor x, Tensor y);
    /// <summary>Clone, To(dtype), To(device): the gradient goes back converted to x's dtype and device.</summary>
    Tensor Copy(Tensor x, Tensor y);
    Tensor Cat(IReadOnlyList<Tensor> parts, int dim, Tensor y);
    Tensor Pad(Tensor x, int[] pad, Tensor y);
    Tensor IndexSelect(Tensor x, int dim, Tensor index, Tensor y);
    Tensor Gather(Tensor x, int dim, Tensor index, Tensor y);
    /// <summary>Out-of-place scatter-add: y = self with src added at index along dim.</summary>
    Tensor ScatterAdd(Tensor self, int dim, Tensor index, Tensor src, Tensor y);
    /// <summary>cond ? a : b (MaskedFill arrives as Where(mask, value, x)).</summary>
    Tensor Where(Tensor cond, Tensor a, Tensor b, Tensor y);
    /// <summary>Keeps the gradient of non-leaf <paramref name="t"/> in its Grad during backward.</summary>
    void RetainGrad(Tensor t);
    /// <summary>Runs the backward pass from <paramref name="root"/> (the engine).</summary>
    void Backward(Tensor root, Tensor? gradient, bool retainGraph);
}
