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
        int rank = shape.Length;
        switch (layout)
        {
            case Layout.Permuted when rank >= 2:
            {
                var perm = Enumerable.Range(0, rank).OrderBy(_ => rng.Next()).ToArray();
                var baseShape = perm.Select(p => shape[p]).ToArray();
                var inv = new int[rank];
                for (int i = 0; i < rank; i++) inv[perm[i]] = i;
                return Both(TensorGen.Random(rng, baseShape, dtype), device, t => t.Permute(inv));
            }
            case Layout.SteppedSlice when rank >= 1 && shape.All(s => s > 0):
            {
                int d = rng.Next(rank), step = rng.Next(2, 4), start = rng.Next(0, 3);
                var baseShape = (int[])shape.Clone();
                baseShape[d] = start + (shape[d] - 1) * step + 1 + rng.Next(0, 2);
                return Both(TensorGen.Random(rng, baseShape, dtype), device, t => t.Slice(d, start, baseShape[d], step).Narrow(d, 0, shape[d]));
            }
            case Layout.Expanded when rank >= 1:
            {
                var baseShape = (int[])shape.Clone();
                for (int i = 0; i < rank; i++) if (rng.Next(2) == 0) baseShape[i] = 1;
                return Both(TensorGen.Random(rng, baseShape, dtype), device, t => t.Expand(shape));
            }
            default:
                return Both(TensorGen.Random(rng, shape, dtype), device, t => t);
        }
    }

    private static (Tensor, Tensor) Both(Tensor baseCpu, Device device, Func<Tensor, Tensor> view) =>
        (view(baseCpu), view(baseCpu.To(device)));

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
