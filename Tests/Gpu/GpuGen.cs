using Sparkle.Tensors;
using Sparkle.Tests.Support;

namespace Sparkle.Tests.Gpu;

/// <summary>
/// The same random tensor on the CPU and on the device, laid out the same way. To(device) always makes a
/// contiguous copy, so non-contiguous device views are made by moving the *base* tensor and then applying
/// the same view ops on both sides (the layouts of <see cref="Layout"/>).
/// </summary>
public static class GpuGen
{
    public static (Tensor Cpu, Tensor Dev) Pair(Random rng, int[] shape, DType dtype, Layout layout, Device device)
    {
        var (baseCpu, view) = TensorGen.RandomView(rng, shape, dtype, layout);
        return (view(baseCpu), view(baseCpu.To(device)));
    }

    public static Layout AnyLayout(Random rng) => TensorGen.AllLayouts[rng.Next(TensorGen.AllLayouts.Length)];

    /// <summary>Asserts the device result is on the device and equals the CPU one within tolerance (exact when 0).</summary>
    public static void Agree(Tensor cpu, Tensor dev, Device device, double rtol = 0, double atol = 0, string what = "")
    {
        Xunit.Assert.Equal(device, dev.Device);
        Xunit.Assert.Equal(cpu.DType, dev.DType);
        Check.Shape(dev, cpu.ShapeArray());
        var back = dev.To(Device.Cpu);
        if (rtol == 0 && atol == 0)
        {
            var e = TensorGen.Values(cpu);
            var a = TensorGen.Values(back);
            for (int i = 0; i < e.Length; i++)
                Xunit.Assert.True(e[i].Equals(a[i]), $"{what}: element {i} = {a[i]:R}, expected {e[i]:R} ({cpu.DType.Name()} {ShapeUtil.Format(cpu.Shape)})");
        }
        else Check.Close(TensorGen.Values(cpu), back, rtol, atol, what);
    }
}
