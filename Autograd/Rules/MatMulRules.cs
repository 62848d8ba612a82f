using Sparkle.Tensors;
using static Sparkle.Autograd.Rules.GradUtil;

namespace Sparkle.Autograd.Rules;

/// <summary>
/// Gradient of torch.matmul (forward: Tensor.MatMul.cs), in the promoted form the forward uses: a 1-D left
/// operand is (1, K), a 1-D right operand is (K, 1), batch dims broadcast. dA = dY·Bᵀ and dB = Aᵀ·dY, summed
/// over broadcast batch dims. A 2-D right operand under a batched left one (a Linear layer) gets its
/// gradient as one GEMM over the flattened batch instead of a batch of products summed afterwards.
/// </summary>
internal static class MatMulRules
{
    public static Tensor MatMul(Tensor a, Tensor b, Tensor y)
    {
        var (sa, sb) = (a.ShapeArray(), b.ShapeArray());
        bool na = a.RequiresGrad, nb = b.RequiresGrad;
        return Differentiable.Record("MatMul", y, [a, b], g =>
        {
            var a2 = a.Rank == 1 ? a.Unsqueeze(0) : a;
            var b2 = b.Rank == 1 ? b.Unsqueeze(1) : b;
            // The product's shape before the forward dropped the dims of 1-D operands.
            var batch = ShapeUtil.Broadcast(a2.Shape[..^2], b2.Shape[..^2]);
            var g2 = g.Reshape([.. batch, a2.Size(-2), b2.Size(-1)]);
            Tensor? ga = null, gb = null;
            if (na) ga = SumTo(g2.MatMul(b2.Transpose(-1, -2)), a2.ShapeArray()).Reshape(sa);
            if (nb)
            {
                gb = b2.Rank == 2 && g2.Rank > 2
                    ? a2.Expand([.. batch, a2.Size(-2), a2.Size(-1)]).Reshape(-1, a2.Size(-1)).T.MatMul(g2.Reshape(-1, g2.Size(-1)))
                    : SumTo(a2.Transpose(-1, -2).MatMul(g2), b2.ShapeArray());
                gb = gb.Reshape(sb);
            }
            return [ga, gb];
        }, a, b);
    }
}
