using Sparkle.Autograd.Rules;
using Sparkle.Tensors;
using Sparkle.Tensors.Autograd;
using Sparkle.Tensors.Backend;

namespace Sparkle.Autograd;

/// <summary>
/// The tensor core's entry into autograd: <see cref="AutogradRuntime"/> installs it as <see cref="GradHook.Recorder"/>
/// when this assembly loads, and it routes each op family to its rules in
/// Rules/. Each rule pairs an op's forward (the tensor-core op named in its file's summary) with its backward.
/// </summary>
internal sealed class Recorder : IGradRecorder
{
    public Tensor Binary(BinaryOp op, Tensor a, Tensor b, Tensor y) => ElementwiseRules.Binary(op, a, b, y);
    public Tensor Unary(UnaryOp op, Tensor x, double p0, double p1, Tensor y) => ElementwiseRules.Unary(op, x, p0, p1, y);
    public Tensor Reduce(ReduceOp op, Tensor x, int[] axes, bool keepDim, int correction, Tensor y) => ReduceRules.Reduce(op, x, axes, keepDim, correction, y);
    public Tensor MatMul(Tensor a, Tensor b, Tensor y) => MatMulRules.MatMul(a, b, y);
    public Tensor Reshape(Tensor x, Tensor y) => ViewRules.Reshape(x, y);
    public Tensor Permute(Tensor x, int[] dims, Tensor y) => ViewRules.Permute(x, dims, y);
    public Tensor Slice(Tensor x, int dim, int start, int step, Tensor y) => ViewRules.Slice(x, dim, start, step, y);
    public Tensor Select(Tensor x, int dim, int index, Tensor y) => ViewRules.Select(x, dim, index, y);
    public Tensor Expand(Tensor x, Tensor y) => ViewRules.Expand(x, y);
    public Tensor Copy(Tensor x, Tensor y) => ViewRules.Copy(x, y);
    public Tensor Cat(IReadOnlyList<Tensor> parts, int dim, Tensor y) => JoinRules.Cat(parts, dim, y);
    public Tensor Pad(Tensor x, int[] pad, Tensor y) => JoinRules.Pad(x, pad, y);
    public Tensor IndexSelect(Tensor x, int dim, Tensor index, Tensor y) => IndexingRules.IndexSelect(x, dim, index, y);
    public Tensor Gather(Tensor x, int dim, Tensor index, Tensor y) => IndexingRules.Gather(x, dim, index, y);
    public Tensor ScatterAdd(Tensor self, int dim, Tensor index, Tensor src, Tensor y) => IndexingRules.ScatterAdd(self, dim, index, src, y);
    public Tensor Where(Tensor cond, Tensor a, Tensor b, Tensor y) => IndexingRules.Where(cond, a, b, y);
    public void RetainGrad(Tensor t) => ((GradNode)t.GradNode!).RetainTarget = t;
    public void Backward(Tensor root, Tensor? gradient, bool retainGraph) => Engine.Backward(root, gradient, retainGraph);
}
