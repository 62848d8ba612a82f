using FsCheck.Xunit;
using Sparkle.Nn.Layers;
using Sparkle.Sparse;
using Sparkle.Sparse.Layers;
using Sparkle.Tensors;
using Sparkle.Tests.Support;
using Xunit;
using static Sparkle.Tests.Sparse.SparseTestUtil;

namespace Sparkle.Tests.Sparse;

/// <summary>Sparse BN (masked statistics, running stats), LN, pools and masked global average pooling.</summary>
public class SparseNormPoolTests
{
    [Property(MaxTest = 30)]
    public void BatchNormMatchesMaskedStatistics(long seed)
    {
        var rng = new SeededRandom(seed);
        int n = rng.Next(1, 4), c = rng.Next(1, 9), f = rng.Next(1, 4), h = f * rng.Next(1, 4);
        var mask = MaskWithActiveSites(rng, ref n, f, h);
        bool cl = rng.Next(2) == 0, affine = rng.Next(3) != 0, training = rng.Next(3) != 0;
        var x0 = Activation(rng, n, c, h, h, DType.Float32, cl);
        using (Sparkle.Autograd.GradMode.NoGrad()) x0.Add_(3.0); // an offset: statistics must be two-pass
        var v = TensorGen.Random(rng, [n, c, h, h], DType.Float32);
        using var ctx = SparseContext.Begin(mask);
        Assert.True(ctx.Sites(h, h).Count >= 2);
        var gamma0 = TensorGen.Random(rng, [c], DType.Float32);
        var beta0 = TensorGen.Random(rng, [c], DType.Float32);
        var rm0 = TensorGen.Random(rng, [c], DType.Float32);
        var rv0 = TensorGen.Random(rng, [c], DType.Float32).Abs() + 0.5;
        var res = new List<Tensor?[]>();
        foreach (bool sparse in new[] { true, false })
        {
            var x = CloneLike(x0).RequireGrad();
            var g = affine ? gamma0.Clone().RequireGrad() : null;
            var b = affine ? beta0.Clone().RequireGrad() : null;
            var rm = rm0.Clone();
            var rv = rv0.Clone();
            var y = sparse ? SparseOps.BatchNorm2d(x, rm, rv, g, b, training) : MaskedDense.BatchNorm2d(x, rm, rv, g, b, training);
            (y * v).Sum().Backward();
            res.Add([y, x.Grad, g?.Grad, b?.Grad, rm, rv]);
        }
        string what = $"n{n} c{c} h{h} f{f} cl={cl} affine={affine} training={training}";
        ZeroAtMasked(res[0][0]!, ctx, what);
        string[] names = ["output", "grad input", "grad weight", "grad bias", "running_mean", "running_var"];
        // Train-mode BN's input gradient is (dy − mean dy − x̂·mean(dy·x̂)) / σ. With two active values per channel it is
        // zero but for the eps term (x̂ = ±σ/√(σ² + eps)), a cancellation; there the float32 rounding of x (offset by 3)
        // relative to σ, amplified by that cancellation, sets the error (seed -6725714282384311499: σ = 0.019, dx = ±3.12,
        // 1.6e-4 apart between the two sum orders). So channels with σ < 0.05 widen the bound by (0.05/σ)²; σ from the
        // running variance's update (momentum 0.1, unbiased).
        double gradTol = 1e-4;
        if (training)
        {
            var (rvNew, rvOld) = (res[1][5]!.ToDoubleArray(), rv0.ToDoubleArray());
            double minSigma = Enumerable.Range(0, c).Min(i => Math.Sqrt(Math.Max((rvNew[i] - 0.9 * rvOld[i]) / 0.1, 1e-12)));
            gradTol = 1e-4 * Math.Max(1, Math.Pow(0.05 / minSigma, 2));
        }
        for (int i = 0; i < names.Length; i++)
            if (res[1][i] is { } e) Near(e, res[0][i]!, i == 1 ? gradTol : 1e-4, $"{what} {names[i]}", floor: 1);
    }

    /// <summary>The seed that found the conditioning bound above (two active sites per channel, close values).</summary>
    [Fact]
    public void BatchNormMatchesMaskedStatisticsWithNearlyEqualSites() => BatchNormMatchesMaskedStatistics(-6725714282384311499);

    [Property(MaxTest = 10)]
    public void BatchNormGradCheck(long seed)
    {
        var rng = new SeededRandom(seed);
        int n = rng.Next(1, 3), c = rng.Next(1, 4), f = rng.Next(1, 3), h = f * rng.Next(1, 3);
        var mask = MaskWithActiveSites(rng, ref n, f, h);
        bool training = rng.Next(3) != 0;
        using var ctx = SparseContext.Begin(mask);
        Assert.True(ctx.Sites(h, h).Count >= 2);
        var x = GradGen.Leaf(rng, [n, c, h, h]);
        var g = GradGen.Leaf(rng, [c]);
        var b = GradGen.Leaf(rng, [c]);
        var rm = Tensor.Zeros([c], DType.Float64);
        var rv = Tensor.Ones([c], DType.Float64);
        GradGen.AssertGrads($"SparseBatchNorm2d training={training}", t => SparseOps.BatchNorm2d(t[0], rm, rv, t[1], t[2], training), x, g, b);
    }

    /// <summary>
    /// The independent reference SPARK.md asks for: sparse BN is BatchNorm1d over the active sites' rows. Gathers the
    /// active rows of x (an (M, C) matrix) and runs Functional.BatchNorm on them (golden-verified against PyTorch), in
    /// float64 at 1e-12: the output at active sites, zeros at masked sites, the input gradient (zero at masked sites),
    /// gamma's and beta's gradients and both running statistics. The masked-dense oracle is held to the same bound.
    /// </summary>
    [Property(MaxTest = 15)]
    public void BatchNormIsBatchNorm1dOfTheActiveRows(long seed)
    {
        var rng = new SeededRandom(seed);
        int n = rng.Next(1, 4), c = rng.Next(1, 6), f = rng.Next(1, 4), h = f * rng.Next(1, 3);
        var mask = MaskWithActiveSites(rng, ref n, f, h);
        bool cl = rng.Next(2) == 0, training = rng.Next(4) != 0;
        using var ctx = SparseContext.Begin(mask);
        var rows = ctx.Sites(h, h);
        var index = Tensor.FromArray(Enumerable.Range(0, rows.Count).Select(r => (long)rows.Sites[r]).ToArray());
        var x0 = Activation(rng, n, c, h, h, DType.Float64, cl) + 3.0;
        var v = TensorGen.Random(rng, [n, c, h, h], DType.Float64);
        var gamma0 = TensorGen.Random(rng, [c], DType.Float64);
        var beta0 = TensorGen.Random(rng, [c], DType.Float64);
        var rm0 = TensorGen.Random(rng, [c], DType.Float64);
        var rv0 = TensorGen.Random(rng, [c], DType.Float64).Abs() + 0.5;
        Tensor Rows(Tensor t) => t.Permute(0, 2, 3, 1).Reshape(n * h * h, c).IndexSelect(0, index);   // (M, C), M active sites

        var xr = Rows(x0).Contiguous().RequireGrad();
        var (gr, br, rmr, rvr) = (gamma0.Clone().RequireGrad(), beta0.Clone().RequireGrad(), rm0.Clone(), rv0.Clone());
        var yr = Sparkle.Nn.Functional.BatchNorm(xr, rmr, rvr, gr, br, training);
        (yr * Rows(v)).Sum().Backward();

        foreach (bool sparse in new[] { true, false })
        {
            var x = CloneLike(x0).RequireGrad();
            var (g, b, rm, rv) = (gamma0.Clone().RequireGrad(), beta0.Clone().RequireGrad(), rm0.Clone(), rv0.Clone());
            var y = sparse ? SparseOps.BatchNorm2d(x, rm, rv, g, b, training) : MaskedDense.BatchNorm2d(x, rm, rv, g, b, training);
            (y * v).Sum().Backward();
            string what = $"{(sparse ? "sparse" : "masked dense")} n{n} c{c} h{h} f{f} cl={cl} training={training} M={rows.Count}";
            ZeroAtMasked(y, ctx, what + " output");
            ZeroAtMasked(x.Grad!, ctx, what + " grad input");
            Near(yr, Rows(y), 1e-12, what + " output", floor: 1);
            Near(xr.Grad!, Rows(x.Grad!), 1e-12, what + " grad input", floor: 1);
            Near(gr.Grad!, g.Grad!, 1e-12, what + " grad weight", floor: 1);
            Near(br.Grad!, b.Grad!, 1e-12, what + " grad bias", floor: 1);
            Near(rmr, rm, 1e-12, what + " running_mean", floor: 1);
            Near(rvr, rv, 1e-12, what + " running_var", floor: 1);
        }
    }

    [Fact]
    public void BatchNormLayerUpdatesTheSharedBuffers()
    {
        var rng = new Random(5);
        var bn = new BatchNorm2d(3);
        var sbn = new SparseBatchNorm2d(bn);
        var mask = RandomMask(rng, 2, 2);
        using var ctx = SparseContext.Begin(mask);
        var x = SparseOps.ApplyMask(TensorGen.Random(rng, [2, 3, 4, 4], DType.Float32));
        var rm = bn.RunningMean!.Clone();
        var rv = bn.RunningVar!.Clone();
        sbn.Forward(x);
        MaskedDense.BatchNorm2d(x, rm, rv, null, null, training: true);
        Near(rm, bn.RunningMean!, 1e-5, "running_mean");
        Near(rv, bn.RunningVar!, 1e-5, "running_var");
        Assert.Equal(1, bn.NumBatchesTracked!.Item());
        sbn.Eval();
        var y = sbn.Forward(x);
        Near(MaskedDense.BatchNorm2d(x, bn.RunningMean, bn.RunningVar, bn.Weight, bn.Bias, training: false), y, 1e-5, "eval");
        Assert.Equal(1, bn.NumBatchesTracked!.Item());
    }

    [Property(MaxTest = 10)]
    public void LayerNormBothLayoutsGradCheckAndZeroAtMasked(long seed)
    {
        var rng = new SeededRandom(seed);
        int n = rng.Next(1, 3), c = rng.Next(2, 5), f = rng.Next(1, 3), h = f * rng.Next(1, 3);
        var mask = RandomMask(rng, n, f);
        using var ctx = SparseContext.Begin(mask);
        var g = GradGen.Leaf(rng, [c]);
        var b = GradGen.Leaf(rng, [c]);
        var xf = GradGen.NormLeaf(rng, [n, c, h, h], [1]);
        GradGen.AssertGrads("SparseLayerNorm channels_first", t => SparseOps.LayerNorm(t[0], t[1], t[2], 1e-6, channelsLast: false), xf, g, b);
        var yf = SparseOps.LayerNorm(xf, g, b, 1e-6, channelsLast: false);
        ZeroAtMasked(yf, ctx, "LN channels_first");
        var xl = GradGen.NormLeaf(rng, [n, h, h, c], [3]);
        GradGen.AssertGrads("SparseLayerNorm channels_last", t => SparseOps.LayerNorm(t[0], t[1], t[2], 1e-6, channelsLast: true), xl, g, b);
        // Channels-last result permuted to NCHW equals the channels-first result on the same values.
        var yl = SparseOps.LayerNorm(xl, g, b, 1e-6, channelsLast: true).Permute(0, 3, 1, 2);
        var yf2 = SparseOps.LayerNorm(xl.Permute(0, 3, 1, 2), g, b, 1e-6, channelsLast: false);
        Near(yf2, yl, 1e-12, "LN layouts agree");
    }

    [Property(MaxTest = 10)]
    public void PoolsAreDensePoolTimesMaskAndGradCheck(long seed)
    {
        var rng = new SeededRandom(seed);
        int n = rng.Next(1, 3), c = rng.Next(1, 3), f = rng.Next(1, 3), h = 2 * f * rng.Next(1, 3);
        var mask = RandomMask(rng, n, f);
        using var ctx = SparseContext.Begin(mask);
        var x = GradGen.DistinctLeaf(rng, [n, c, h, h]);
        var mp = new SparseMaxPool2d(new MaxPool2d(3, 2, 1));
        var ap = new SparseAvgPool2d(new AvgPool2d(2));
        var ym = mp.Forward(x);
        ZeroAtMasked(ym, ctx, "max pool");
        Near(Sparkle.Nn.Functional.MaxPool2d(x, 3, 2, 1) * SparseOps.MaskFor(ym), ym, 0, "max pool value");
        GradGen.AssertGrads("SparseMaxPool2d", t => mp.Forward(t[0]), x);
        GradGen.AssertGrads("SparseAvgPool2d", t => ap.Forward(t[0]), x);
        ZeroAtMasked(ap.Forward(x), ctx, "avg pool");
    }

    [Property(MaxTest = 10)]
    public void GlobalAvgPoolAveragesActiveSitesOnly(long seed)
    {
        var rng = new SeededRandom(seed);
        int n = rng.Next(1, 4), c = rng.Next(1, 4), f = rng.Next(1, 4), h = f * rng.Next(1, 3);
        var mask = RandomMask(rng, n, f);
        using var ctx = SparseContext.Begin(mask);
        var x = GradGen.Leaf(rng, [n, c, h, h]);
        var y = SparseOps.GlobalAvgPool(x);
        var sites = ctx.Sites(h, h);
        for (int b = 0; b < n; b++)
            for (int k = 0; k < c; k++)
            {
                double s = 0;
                int cnt = 0;
                for (int r = sites.BatchStart[b]; r < sites.BatchStart[b + 1]; r++)
                {
                    int site = sites.Sites[r] - b * h * h;
                    s += x.GetDouble(b, k, site / h, site % h);
                    cnt++;
                }
                Assert.Equal(cnt == 0 ? 0 : s / cnt, y.GetDouble(b, k), 1e-12);
            }
        GradGen.AssertGrads("SparseGlobalAvgPool", t => SparseOps.GlobalAvgPool(t[0]), x);
    }
}
