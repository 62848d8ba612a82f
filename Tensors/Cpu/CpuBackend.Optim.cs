using Sparkle.Tensors.Backend;
using Sparkle.Tensors.Cpu.Optim;

namespace Sparkle.Tensors.Cpu;

/// <summary>Optimizer primitives: kernels in Cpu/Optim for contiguous float32/float64 operands (parameters, gradients
/// and optimizer state always are); anything else takes the seam composition (<see cref="SeamOptim"/>), which has the
/// same bits.</summary>
public sealed partial class CpuBackend
{
    public void SumOfSquares(IReadOnlyList<Tensor> xs, Tensor dst)
    {
        if (!xs.All(x => x.IsContiguous)) { SeamOptim.SumOfSquares(xs, dst); return; }
        switch (dst.DType)
        {
            case DType.Float32: SumOfSquaresCpu<float>.Run(xs, dst); break;
            case DType.Float64: SumOfSquaresCpu<double>.Run(xs, dst); break;
            default: SeamOptim.SumOfSquares(xs, dst); break;
        }
    }

    public void LambStep(IReadOnlyList<AdamSlot> slots, in LambStepParams p, Tensor? gradNorm)
    {
        if (slots.Count == 0) return;
        if (!slots.All(Contiguous)) { SeamOptim.LambStep(slots, p, gradNorm); return; }
        switch (slots[0].Param.DType)
        {
            case DType.Float32: LambCpu<float>.Run(slots, p, gradNorm); break;
            case DType.Float64: LambCpu<double>.Run(slots, p, gradNorm); break;
            default: throw new NotSupportedException($"LambStep supports float32 and float64, not {slots[0].Param.DType.Name()}.");
        }
    }

    public void AdamWStep(AdamSlot slot, in AdamWStepParams p)
    {
        if (!Contiguous(slot)) { SeamOptim.AdamWStep(slot, p); return; }
        switch (slot.Param.DType)
        {
            case DType.Float32: AdamWCpu<float>.Run(slot, p); break;
            case DType.Float64: AdamWCpu<double>.Run(slot, p); break;
            default: throw new NotSupportedException($"AdamWStep supports float32 and float64, not {slot.Param.DType.Name()}.");
        }
    }

    public void SgdStep(Tensor param, Tensor grad, Tensor? momentumBuffer, in SgdStepParams p)
    {
        if (!param.IsContiguous || !grad.IsContiguous || momentumBuffer is { IsContiguous: false })
        {
            SeamOptim.SgdStep(param, grad, momentumBuffer, p);
            return;
        }
        switch (param.DType)
        {
            case DType.Float32: SgdCpu<float>.Run(param, grad, momentumBuffer, p); break;
            case DType.Float64: SgdCpu<double>.Run(param, grad, momentumBuffer, p); break;
            default: throw new NotSupportedException($"SgdStep supports float32 and float64, not {param.DType.Name()}.");
        }
    }

    private static bool Contiguous(AdamSlot s) => s.Param.IsContiguous && s.Grad.IsContiguous && s.ExpAvg.IsContiguous && s.ExpAvgSq.IsContiguous;
}
