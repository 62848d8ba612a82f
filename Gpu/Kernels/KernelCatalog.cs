using System.Reflection;

namespace Sparkle.Gpu.Kernels;

/// <summary>
/// Every kernel instantiation the backend can launch, as closed generic methods. The PTX compile test walks
/// this list, so a construct the CUDA backend cannot compile fails in CI without a GPU. Add new kernels here.
/// </summary>
public static class KernelCatalog
{
    private static readonly (Type T, Type E)[] Elements =
        [(typeof(float), typeof(F32)), (typeof(double), typeof(F64)), (typeof(int), typeof(I32)), (typeof(long), typeof(I64)), (typeof(byte), typeof(Bool8))];

    public static IEnumerable<MethodInfo> All()
    {
        foreach (var (t, e) in Elements)
        {
            yield return Get(typeof(CopyKernels), nameof(CopyKernels.Copy), t);
            yield return Get(typeof(CopyKernels), nameof(CopyKernels.Fill), t);
            yield return Get(typeof(ElementwiseKernels), nameof(ElementwiseKernels.Where), t);
            yield return Get(typeof(ElementwiseKernels), nameof(ElementwiseKernels.Compare), t, e);
            yield return Get(typeof(RandomKernel), nameof(RandomKernel.Sample), t, e);
            yield return Get(typeof(ReduceKernels), nameof(ReduceKernels.Reduce), t, e);
            yield return Get(typeof(ReduceKernels), nameof(ReduceKernels.ArgReduce), t, e);
            yield return Get(typeof(IndexKernels), nameof(IndexKernels.Gather), t, typeof(int), typeof(I32));
            yield return Get(typeof(IndexKernels), nameof(IndexKernels.Gather), t, typeof(long), typeof(I64));
            yield return Get(typeof(IndexKernels), nameof(IndexKernels.ScatterAdd), t, e, typeof(int), typeof(I32));
            yield return Get(typeof(IndexKernels), nameof(IndexKernels.ScatterAdd), t, e, typeof(long), typeof(I64));
            if (t != typeof(byte))
            {
                yield return Get(typeof(ElementwiseKernels), nameof(ElementwiseKernels.Unary), t, e);
                yield return Get(typeof(ElementwiseKernels), nameof(ElementwiseKernels.Binary), t, e);
            }
            if (t == typeof(float) || t == typeof(double))
                yield return Get(typeof(MatMulKernel), nameof(MatMulKernel.MatMul), t, e);
            if (t == typeof(float) || t == typeof(double))
                yield return Get(typeof(ElementwiseKernels), nameof(ElementwiseKernels.IsFinite), t, e);
            if (t == typeof(float) || t == typeof(double))
            {
                yield return Get(typeof(ConvKernels), nameof(ConvKernels.Forward), t, e);
                yield return Get(typeof(ConvKernels), nameof(ConvKernels.BackwardInput), t, e);
                yield return Get(typeof(ConvKernels), nameof(ConvKernels.BackwardWeight), t, e);
                yield return Get(typeof(ConvKernels), nameof(ConvKernels.FinishWeight), t, e);
            }
            foreach (var (t2, e2) in Elements)
                if (t2 != t) yield return Get(typeof(CopyKernels), nameof(CopyKernels.Cast), t, t2, e, e2);
        }
        yield return typeof(ElementwiseKernels).GetMethod(nameof(ElementwiseKernels.Logical))!;
        foreach (var (t, e) in new[] { (typeof(float), typeof(F32)), (typeof(double), typeof(F64)) })
        {
            yield return Get(typeof(NormKernels), nameof(NormKernels.Normalize), t, e);
            yield return Get(typeof(NormKernels), nameof(NormKernels.InputGrad), t, e);
            yield return Get(typeof(PoolKernels), nameof(PoolKernels.MaxPoolForward), t, e);
            yield return Get(typeof(PoolKernels), nameof(PoolKernels.MaxPoolBackward), t, e);
        }
        foreach (var (t, e) in new[] { (typeof(float), typeof(F32)), (typeof(double), typeof(F64)) })
        {
            yield return Get(typeof(OptimKernels), nameof(OptimKernels.LambApply), t, e);
            yield return Get(typeof(OptimKernels), nameof(OptimKernels.AdamW), t, e);
            yield return Get(typeof(OptimKernels), nameof(OptimKernels.Sgd), t, e);
        }
        foreach (var k in Sparse()) yield return k;
    }

    /// <summary>The explicitly grouped kernels (launched with a KernelConfig; compiled with FromExplicitlyGroupedKernel).</summary>
    public static IEnumerable<MethodInfo> Grouped()
    {
        yield return Get(typeof(TiledMatMulKernel), nameof(TiledMatMulKernel.MatMul), typeof(float), typeof(F32));
        yield return Get(typeof(TiledMatMulKernel), nameof(TiledMatMulKernel.MatMul), typeof(double), typeof(F64));
        yield return Get(typeof(TiledConvKernel), nameof(TiledConvKernel.Forward), typeof(float), typeof(F32));
        yield return Get(typeof(TiledConvKernel), nameof(TiledConvKernel.Forward), typeof(double), typeof(F64));
        foreach (var (t, e) in new[] { (typeof(float), typeof(F32)), (typeof(double), typeof(F64)) })
        {
            yield return Get(typeof(TiledConvKernel), nameof(TiledConvKernel.BackwardInput), t, e);
            yield return Get(typeof(TiledConvKernel), nameof(TiledConvKernel.BackwardWeight), t, e);
            yield return Get(typeof(TiledConvKernel), nameof(TiledConvKernel.ForwardWide), t, e);
            yield return Get(typeof(TiledConvKernel), nameof(TiledConvKernel.BackwardInputWide), t, e);
            yield return Get(typeof(TiledConvKernel), nameof(TiledConvKernel.BackwardWeightWide), t, e);
            yield return Get(typeof(DepthwiseKernels), nameof(DepthwiseKernels.Correlate), t, e);
            yield return Get(typeof(DepthwiseKernels), nameof(DepthwiseKernels.WeightGrad), t, e);
        }
        foreach (var (t, e) in Elements)
            yield return Get(typeof(GroupReduceKernel), nameof(GroupReduceKernel.Reduce), t, e);
        foreach (var (t, e) in new[] { (typeof(float), typeof(F32)), (typeof(double), typeof(F64)) })
        {
            yield return Get(typeof(GroupReduceKernel), nameof(GroupReduceKernel.PartialSums), t, e);
            yield return Get(typeof(GroupReduceKernel), nameof(GroupReduceKernel.FinishSums), t, e);
        }
        foreach (var (t, e) in new[] { (typeof(float), typeof(F32)), (typeof(double), typeof(F64)) })
        {
            yield return Get(typeof(NormKernels), nameof(NormKernels.StatsPartial), t, e);
            yield return Get(typeof(NormKernels), nameof(NormKernels.StatsFinish), t, e);
            yield return Get(typeof(NormKernels), nameof(NormKernels.GradPartial), t, e);
            yield return Get(typeof(NormKernels), nameof(NormKernels.GradFinish), t, e);
        }
        foreach (var (t, e) in new[] { (typeof(float), typeof(F32)), (typeof(double), typeof(F64)) })
        {
            yield return Get(typeof(OptimKernels), nameof(OptimKernels.SumSquaresPartial), t, e);
            yield return Get(typeof(OptimKernels), nameof(OptimKernels.FinishSums), t, e);
            yield return Get(typeof(OptimKernels), nameof(OptimKernels.LambMoments), t, e);
            yield return Get(typeof(OptimKernels), nameof(OptimKernels.LambTrust), t, e);
        }
        foreach (var k in SparseGrouped()) yield return k;
        foreach (var k in Tf32Kernels.Catalog()) yield return k;
    }

    /// <summary>SparK's active-site kernels (SparseKernels): gather/scatter for every dtype, the rest for float types.</summary>
    private static IEnumerable<MethodInfo> Sparse()
    {
        foreach (var (t, e) in Elements)
        {
            yield return Get(typeof(SparseKernels), nameof(SparseKernels.Gather), t);
            yield return Get(typeof(SparseKernels), nameof(SparseKernels.Scatter), t);
            if (t != typeof(float) && t != typeof(double)) continue;
            yield return Get(typeof(SparseKernels), nameof(SparseKernels.RowsConv), t, e);
            yield return Get(typeof(SparseKernels), nameof(SparseKernels.WeightPartial), t, e);
            yield return Get(typeof(SparseKernels), nameof(SparseKernels.WeightCombine), t, e);
        }
    }

    /// <summary>The sparse convolution's tiled kernels (SparseTiledKernels), explicitly grouped.</summary>
    private static IEnumerable<MethodInfo> SparseGrouped()
    {
        foreach (var (t, e) in new[] { (typeof(float), typeof(F32)), (typeof(double), typeof(F64)) })
        {
            yield return Get(typeof(SparseTiledKernels), nameof(SparseTiledKernels.RowsConv), t, e);
            yield return Get(typeof(SparseTiledKernels), nameof(SparseTiledKernels.WeightPartial), t, e);
        }
    }

    private static MethodInfo Get(Type owner, string name, params Type[] args) =>
        owner.GetMethod(name, BindingFlags.Public | BindingFlags.Static)!.MakeGenericMethod(args);
}
