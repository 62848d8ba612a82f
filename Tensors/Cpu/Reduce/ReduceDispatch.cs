using System.Numerics;
using Sparkle.Tensors.Backend;
using Sparkle.Tensors.Cpu.Elementwise;

namespace Sparkle.Tensors.Cpu.Reduce;

/// <summary>Picks the element type and kernel once per call. Sum/Mean/Var/Max/Min share one driver;
/// Var is two passes (mean, then the sum of squared deviations from it).</summary>
internal static class ReduceDispatch
{
    /// <summary><paramref name="width"/>: the backend's vector width (<see cref="CpuKernelOptions.Width"/>).</summary>
    public static void Reduce(ReduceOp op, Tensor x, ReadOnlySpan<int> axes, Tensor dst, int correction, SimdWidth width)
    {
        var p = new ReducePlan(x, axes) { Width = width };
        switch (x.DType)
        {
            case DType.Float32: Reduce<float>(op, p, x, dst, correction); break;
            case DType.Float64: Reduce<double>(op, p, x, dst, correction); break;
            case DType.Int32: Reduce<int>(op, p, x, dst, correction); break;
            case DType.Int64: Reduce<long>(op, p, x, dst, correction); break;
            case DType.Bool when op is ReduceOp.Max or ReduceOp.Min: Reduce<byte>(op, p, x, dst, correction); break;
            default: throw new NotSupportedException($"Reduce {op} is not defined for {x.DType.Name()}.");
        }
    }

    private static void Reduce<T>(ReduceOp op, ReducePlan p, Tensor x, Tensor dst, int correction)
        where T : unmanaged, INumber<T>, IMinMaxValue<T>
    {
        T[] xs = ElementData.Array<T>(x), ds = ElementData.Array<T>(dst);
        int off = dst.Offset;
        switch (op)
        {
            case ReduceOp.Sum: ReduceDriver.Run<T, SumKernel<T>>(p, xs, null, ds, off, T.One, false); break;
            case ReduceOp.Mean: ReduceDriver.Run<T, SumKernel<T>>(p, xs, null, ds, off, T.CreateTruncating(p.N), true); break;
            case ReduceOp.Var:
            {
                var mean = new T[p.M];
                ReduceDriver.Run<T, SumKernel<T>>(p, xs, null, mean, 0, T.CreateTruncating(p.N), true);
                ReduceDriver.Run<T, SquaredDeviationKernel<T>>(p, xs, mean, ds, off, T.CreateTruncating(Math.Max(0, p.N - correction)), true);
                break;
            }
            case ReduceOp.Max: ReduceDriver.Run<T, MaxKernel<T>>(p, xs, null, ds, off, T.One, false); break;
            case ReduceOp.Min: ReduceDriver.Run<T, MinKernel<T>>(p, xs, null, ds, off, T.One, false); break;
            default: throw new NotSupportedException($"Reduce {op}.");
        }
    }

    public static void ArgReduce(ArgReduceOp op, Tensor x, int axis, Tensor dst)
    {
        bool isMax = op == ArgReduceOp.ArgMax;
        switch (x.DType)
        {
            case DType.Float32: ArgReduceDriver.Run<float>(isMax, x, axis, dst); break;
            case DType.Float64: ArgReduceDriver.Run<double>(isMax, x, axis, dst); break;
            case DType.Int32: ArgReduceDriver.Run<int>(isMax, x, axis, dst); break;
            case DType.Int64: ArgReduceDriver.Run<long>(isMax, x, axis, dst); break;
            case DType.Bool: ArgReduceDriver.Run<byte>(isMax, x, axis, dst); break;
        }
    }
}
