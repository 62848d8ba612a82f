namespace Sparkle.Tensors.Backend;

/// <summary>An activation a kernel may apply to its own output (batch norm followed by ReLU/ReLU6), so the activation
/// costs no pass and no tensor of its own. Same semantics as <see cref="UnaryOp.Relu"/> / <see cref="UnaryOp.Relu6"/>
/// (IEEE maximum/minimum: NaN propagates) and, backward, as <see cref="BinaryOp.ReluBackward"/> (y &gt; 0) /
/// <see cref="BinaryOp.Relu6Backward"/> (0 &lt; y &lt; 6) read from the activated output.</summary>
public enum Activation
{
    None,
    Relu,
    Relu6,
}
