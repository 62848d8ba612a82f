using Sparkle.Autograd;
using Sparkle.Nn;
using Sparkle.Tensors;
using Sparkle.Tensors.Backend;

namespace Sparkle.Sparse;

public static partial class SparseOps
{
    /// <summary>
    /// SparK's SparseBatchNorm2d (SPARK.md §1.4), as the official implementation computes it: the active sites' rows
    /// gathered into an (n, C) matrix, BatchNorm1d over them (batch statistics over the n active sites, biased variance
    /// for normalising, running_var updated with var·n/(n−1); evaluation uses the running statistics), the rows scattered
    /// back (masked outputs are zero). Gather, scatter and the BN kernel are the device's (<see cref="IBackend.SparseGather"/>,
    /// <see cref="IBackend.BatchNormTrainForward"/>); running statistics are updated in place on the device.
    /// </summary>
    public static Tensor BatchNorm2d(Tensor input, Tensor? runningMean, Tensor? runningVar, Tensor? weight, Tensor? bias,
        bool training, double momentum = 0.1, double eps = 1e-5, SparseContext? context = null, Activation activation = Activation.None)
    {
        const string op = "SparseBatchNorm2d";
        var ctx = context ?? SparseContext.Require(op);
        if (input.Rank != 4) throw new ArgumentException($"{op}: expected (N, C, H, W) input, got {ShapeUtil.Format(input.Shape)}.");
        if (input.Size(0) != ctx.Mask.Batch)
            throw new ArgumentException($"{op}: input batch {input.Size(0)} differs from the mask's batch {ctx.Mask.Batch}.");
        if (input.DType is not (DType.Float32 or DType.Float64))
            throw new InvalidOperationException($"{op} needs float32 or float64, got {input.DType.Name()}.");
        var sites = ctx.Sites(input.Size(2), input.Size(3)).On(input.Device);
        bool batchStats = training || runningMean is null || runningVar is null;
        if (batchStats && sites.Count <= 1)   // the official BatchNorm1d sees the (n, C) rows of the active sites
            throw BatchNormShape.TooFewValues(op, [sites.Count, input.Size(1)], $" ({sites.Count} active site(s) of input {ShapeUtil.Format(input.Shape)})");
        var rows = GatherRows(input, sites);
        var y = Functional.BatchNorm(rows, runningMean, runningVar, weight, bias, batchStats, momentum, eps, activation);
        return ScatterRows(y, sites, input.IsChannelsLast);
    }

    /// <summary>The (n, C) rows of a dense map's active sites, differentiable (the gradient scatters back, in the input's
    /// layout, zero at masked sites).</summary>
    public static Tensor GatherRows(Tensor input, SparseSites sites)
    {
        var rows = Tensor.Empty([sites.Count, input.Size(1)], input.DType, input.Device);
        using (GradMode.NoGrad()) input.Backend.SparseGather(input, sites, rows);
        if (!Differentiable.NeedsGrad(input)) return rows;
        bool cl = input.IsChannelsLast;
        return Differentiable.Record("SparseGatherRows", rows, [input], g => [g.Backend.SparseScatter(g.Contiguous(), sites, cl)]);
    }

    /// <summary>The dense map (N, C, H, W) of (n, C) rows, zero at masked sites, differentiable (the gradient gathers).</summary>
    public static Tensor ScatterRows(Tensor rows, SparseSites sites, bool channelsLast)
    {
        Tensor y;
        using (GradMode.NoGrad()) y = rows.Backend.SparseScatter(rows.Contiguous(), sites, channelsLast);
        if (!Differentiable.NeedsGrad(rows)) return y;
        return Differentiable.Record("SparseScatterRows", y, [rows], g =>
        {
            var gr = Tensor.Empty([sites.Count, g.Size(1)], g.DType, g.Device);
            g.Backend.SparseGather(g, sites, gr);
            return [gr];
        });
    }
}
