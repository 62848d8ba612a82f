using ILGPU;
using ILGPU.Runtime;
using Sparkle.Gpu.Kernels;
using Sparkle.Tensors;
using Sparkle.Tensors.Backend;

namespace Sparkle.Gpu;

/// <summary>Unary, binary and where: host-side dispatch mirroring the CPU's ElementwiseDispatch (same dtype rules,
/// same exponent special cases), then one generic kernel per dtype with the op as an argument.</summary>
public sealed partial class IlgpuBackend
{
    private static readonly Action<ILGPU.Index1D, ArrayView1D<byte, Stride1D.Dense>, ArrayView1D<byte, Stride1D.Dense>, ArrayView1D<byte, Stride1D.Dense>, Layout4, int> LogicalKernel = ElementwiseKernels.Logical;

    public void Unary(UnaryOp op, Tensor x, Tensor dst, double p0 = 0, double p1 = 0)
    {
        if (op == UnaryOp.Not) { RequireBool("Not", x); Logical(2, x, x, dst); return; }
        if (op == UnaryOp.IsFinite)
        {
            switch (x.DType)
            {
                case DType.Float32: IsFinite<float, F32>(x, dst); return;
                case DType.Float64: IsFinite<double, F64>(x, dst); return;
                default: Fill(dst, 1); return;
            }
        }
        if (op == UnaryOp.PowScalar)
        {
            // The CPU maps these exponents to exact ops; doing the same keeps results identical, not just close.
            bool f = x.DType.IsFloating();
            if (p0 == 1) { Copy(x, dst); return; }
            if (p0 == 2) op = UnaryOp.Square;
            else if (f && p0 == 0.5) op = UnaryOp.Sqrt;
            else if (f && p0 == -0.5) op = UnaryOp.Rsqrt;
            else if (f && p0 == -1) op = UnaryOp.Reciprocal;
        }
        if (op.NeedsFloat() && !x.DType.IsFloating())
            throw new NotSupportedException($"Unary {op} is not defined for {x.DType.Name()}.");
        switch (x.DType)
        {
            case DType.Float32: UnaryTyped<float, F32>(op, x, dst, (float)p0, (float)p1, p0); break;
            case DType.Float64: UnaryTyped<double, F64>(op, x, dst, p0, p1, p0); break;
            case DType.Int32: UnaryTyped<int, I32>(op, x, dst, (int)p0, (int)p1, p0); break;
            case DType.Int64: UnaryTyped<long, I64>(op, x, dst, (long)p0, (long)p1, p0); break;
            default: throw new NotSupportedException($"Unary {op} is not defined for {x.DType.Name()}.");
        }
    }

    private void UnaryTyped<T, TE>(UnaryOp op, Tensor x, Tensor dst, T p0, T p1, double pd) where T : unmanaged where TE : struct, IElement<T>
    {
        var l = LayoutBuilder.Build(dst.Shape, dst, x);
        var xv = View<T>(x);
        var dv = View<T>(dst);
        Launch(dst.NumElements, i => _kernels.Get<ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, Layout4, int, T, T, double>(
            ElementwiseKernels.Unary<T, TE>)(i, xv, dv, l, (int)op, p0, p1, pd));
    }

    private void IsFinite<T, TE>(Tensor x, Tensor dst) where T : unmanaged where TE : struct, IElement<T>
    {
        var l = LayoutBuilder.Build(dst.Shape, dst, x);
        var xv = View<T>(x);
        var dv = View<byte>(dst);
        Launch(dst.NumElements, i => _kernels.Get<ArrayView1D<T, Stride1D.Dense>, ArrayView1D<byte, Stride1D.Dense>, Layout4>(
            ElementwiseKernels.IsFinite<T, TE>)(i, xv, dv, l));
    }

    public void Binary(BinaryOp op, Tensor a, Tensor b, Tensor dst)
    {
        if (op is BinaryOp.And or BinaryOp.Or) { RequireBool(op.ToString(), a); Logical(op == BinaryOp.And ? 0 : 1, a, b, dst); return; }
        switch (a.DType)
        {
            case DType.Float32: BinaryTyped<float, F32>(op, a, b, dst); break;
            case DType.Float64: BinaryTyped<double, F64>(op, a, b, dst); break;
            case DType.Int32: BinaryTyped<int, I32>(op, a, b, dst); break;
            case DType.Int64: BinaryTyped<long, I64>(op, a, b, dst); break;
            case DType.Bool when op.IsComparison(): BinaryTyped<byte, Bool8>(op, a, b, dst); break;
            default: throw new NotSupportedException($"Binary {op} is not defined for {a.DType.Name()}.");
        }
    }

    private void BinaryTyped<T, TE>(BinaryOp op, Tensor a, Tensor b, Tensor dst) where T : unmanaged where TE : struct, IElement<T>
    {
        var l = LayoutBuilder.Build(dst.Shape, dst, a, b);
        var av = View<T>(a);
        var bv = View<T>(b);
        if (op.IsComparison())
        {
            var dv = View<byte>(dst);
            Launch(dst.NumElements, i => _kernels.Get<ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, ArrayView1D<byte, Stride1D.Dense>, Layout4, int>(
                ElementwiseKernels.Compare<T, TE>)(i, av, bv, dv, l, (int)op));
        }
        else
        {
            var dv = View<T>(dst);
            Launch(dst.NumElements, i => _kernels.Get<ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, Layout4, int>(
                ElementwiseKernels.Binary<T, TE>)(i, av, bv, dv, l, (int)op));
        }
    }

    private void Logical(int op, Tensor a, Tensor b, Tensor dst)
    {
        var l = LayoutBuilder.Build(dst.Shape, dst, a, b);
        var av = View<byte>(a);
        var bv = View<byte>(b);
        var dv = View<byte>(dst);
        Launch(dst.NumElements, i => _kernels.Get(LogicalKernel)(i, av, bv, dv, l, op));
    }

    public void Where(Tensor cond, Tensor a, Tensor b, Tensor dst)
    {
        RequireBool("Where condition", cond);
        switch (dst.DType)
        {
            case DType.Float32: WhereTyped<float>(cond, a, b, dst); break;
            case DType.Float64: WhereTyped<double>(cond, a, b, dst); break;
            case DType.Int32: WhereTyped<int>(cond, a, b, dst); break;
            case DType.Int64: WhereTyped<long>(cond, a, b, dst); break;
            case DType.Bool: WhereTyped<byte>(cond, a, b, dst); break;
        }
    }

    private void WhereTyped<T>(Tensor cond, Tensor a, Tensor b, Tensor dst) where T : unmanaged
    {
        var l = LayoutBuilder.Build(dst.Shape, dst, cond, a, b);
        var cv = View<byte>(cond);
        var av = View<T>(a);
        var bv = View<T>(b);
        var dv = View<T>(dst);
        Launch(dst.NumElements, i => _kernels.Get<ArrayView1D<byte, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, ArrayView1D<T, Stride1D.Dense>, Layout4>(
            ElementwiseKernels.Where<T>)(i, cv, av, bv, dv, l));
    }

    private static void RequireBool(string what, Tensor t)
    {
        if (t.DType != DType.Bool) throw new NotSupportedException($"{what} needs a bool tensor, got {t.DType.Name()}.");
    }
}
