using FsCheck.Xunit;
using Sparkle.Nn;
using Sparkle.Nn.Layers;
using Sparkle.Tensors;
using Sparkle.Tensors.Backend;
using Sparkle.Tests.Support;
using Xunit;

namespace Sparkle.Tests.Nn;

/// <summary>Float64 gradient checks of every layer and loss over random shapes and hyper-parameters.</summary>
public class LayerGradTests
{
    private static int[] Nchw(Random rng, int minHw = 1, int maxHw = 6) => [rng.Next(1, 3), rng.Next(1, 4), rng.Next(minHw, maxHw + 1), rng.Next(minHw, maxHw + 1)];

    [Property(MaxTest = 30)]
    public void LinearGradients(long seed)
    {
        var rng = new SeededRandom(seed);
        int inF = rng.Next(1, 5), outF = rng.Next(1, 5);
        var lead = TensorGen.RandomShape(rng, 0, 2, 3);
        var x = GradGen.Leaf(rng, [.. lead, inF]);
        var layer = new Linear(inF, outF, bias: rng.Next(2) == 0, dtype: DType.Float64, generator: new Generator((ulong)seed));
        var inputs = new List<Tensor> { x, layer.Weight };
        if (layer.Bias is not null) inputs.Add(layer.Bias);
        GradGen.AssertGrads("Linear", _ => layer.Forward(x), [.. inputs]);
    }

    [Property(MaxTest = 30)]
    public void BatchNormGradientsInTrainingAndEval(long seed)
    {
        var rng = new SeededRandom(seed);
        bool twoD = rng.Next(2) == 0;
        int[] shape = twoD ? Nchw(rng, 1, 3) : [rng.Next(2, 5), rng.Next(1, 4)];
        if (ShapeUtil.NumElements(shape) / shape[1] < 2) shape[0] = 2;
        var x = GradGen.NormLeaf(rng, shape, BatchDims(shape));
        var w = GradGen.Leaf(rng, [shape[1]]);
        var b = GradGen.Leaf(rng, [shape[1]]);
        bool training = rng.Next(3) != 0;
        var rm = TensorGen.Random(rng, [shape[1]], DType.Float64);
        var rv = TensorGen.Random(rng, [shape[1]], DType.Float64).Abs() + 0.5;
        GradGen.AssertGrads($"BatchNorm training={training} {ShapeUtil.Format(shape)}",
            _ => Functional.BatchNorm(x, training ? null : rm, training ? null : rv, w, b, training), x, w, b);
    }

    [Property(MaxTest = 20)]
    public void FusedBatchNormEqualsTheComposedOne(long seed)
    {
        // The backend's kernel (contiguous planes; a channels-last view, which runs as rows; an (N, C) rows matrix), with
        // each fused activation, against the composed tensor-op reference followed by the activation op.
        var rng = new SeededRandom(seed);
        int kind = rng.Next(3);                                    // 0 planes, 1 channels-last view, 2 rows
        var shape = kind == 2 ? [rng.Next(2, 40), rng.Next(1, 6)] : Nchw(rng, 1, 5);
        // At least 4 values per channel: over 2 the gradient is (g − ḡ)·eps/(var + eps)·w/σ, a cancellation that float32
        // resolves only to about 1e-3 relative in either path (seen with seed -919142181217566754).
        shape[0] = Math.Max(shape[0], 4);
        if (kind == 1) shape[1] = Math.Max(shape[1], 2);           // C = 1 is contiguous as well
        var dt = rng.Next(2) == 0 ? DType.Float32 : DType.Float64;
        var act = (Activation)rng.Next(3);
        var values = TensorGen.Random(rng, shape, dt) * 3.0 + 20.0;
        var x = (kind == 1 ? values.Permute(0, 2, 3, 1).Contiguous().Permute(0, 3, 1, 2) : values.Clone()).RequireGrad();
        var xr = values.Clone().RequireGrad();
        var w = (TensorGen.Random(rng, [shape[1]], dt) * 2.0).RequireGrad();
        var b = TensorGen.Random(rng, [shape[1]], dt).RequireGrad();
        var (rm1, rv1) = (Tensor.Zeros([shape[1]], dt), Tensor.Ones([shape[1]], dt));
        var (rm2, rv2) = (Tensor.Zeros([shape[1]], dt), Tensor.Ones([shape[1]], dt));
        var r = TensorGen.Random(rng, shape, dt);
        var y1 = Functional.BatchNorm(x, rm1, rv1, w, b, training: true, activation: act);
        Assert.Equal(act == Activation.None ? "BatchNormBackward" : $"BatchNorm{act}Backward", y1.GradFnName);
        (y1 * r).Sum().Backward();
        var (gx, gw, gb) = (x.Grad!.ToDoubleArray(), w.Grad!.ToDoubleArray(), b.Grad!.ToDoubleArray());
        w.Grad = null; b.Grad = null;
        var y2 = Functional.BatchNormComposed(xr, rm2, rv2, w, b, training: true);
        y2 = act switch { Activation.Relu => y2.Relu(), Activation.Relu6 => y2.Relu6(), _ => y2 };
        (y2 * r).Sum().Backward();
        double tol = dt == DType.Float32 ? 2e-4 : 1e-10;
        Check.Close(y2.ToDoubleArray(), y1, tol, tol, "output");
        Check.Close(xr.Grad!.ToDoubleArray(), Tensor.FromArray(gx, shape), tol, tol, "grad x");
        Check.Close(w.Grad!.ToDoubleArray(), Tensor.FromArray(gw), tol, tol, "grad w");
        Check.Close(b.Grad!.ToDoubleArray(), Tensor.FromArray(gb), tol, tol, "grad b");
        Check.Close(rm2.ToDoubleArray(), rm1, tol, tol, "running mean");
        Check.Close(rv2.ToDoubleArray(), rv1, tol, tol, "running var");
    }

    /// <summary>Float64 finite differences of the fused BN + activation on planes and on rows (the sparse encoder's rank-2
    /// case): the kernel's closed-form backward, activation mask included.</summary>
    [Property(MaxTest = 20)]
    public void FusedBatchNormActivationGradients(long seed)
    {
        var rng = new SeededRandom(seed);
        bool rows = rng.Next(2) == 0;
        int[] shape = rows ? [rng.Next(2, 9), rng.Next(1, 5)] : Nchw(rng, 1, 3);
        if (ShapeUtil.NumElements(shape) / shape[1] < 2) shape[0] = 2;
        var act = (Activation)rng.Next(3);
        // b shifts the outputs into (0, 6) for ReLU6, so both sides of both kinks occur. The finite differences must not
        // straddle a kink: x is redrawn until the normalised values keep 0.02 from 0, and each channel's bias until its
        // outputs keep 0.02 from 0 and 6 (a step of GradCheck's moves an output by well under that).
        bool withAffine = rng.Next(4) != 0;
        Tensor x;
        double[] xhat;
        do
        {
            x = GradGen.NormLeaf(rng, shape, BatchDims(shape));
            using (Sparkle.Autograd.GradMode.NoGrad()) xhat = TensorGen.Values(Functional.BatchNorm(x, null, null, null, null, training: true));
        }
        while (!withAffine && xhat.Any(v => Math.Abs(v) < 0.02));
        var w = (TensorGen.Random(rng, [shape[1]], DType.Float64).Abs() + 0.5).RequireGrad();
        var b = Tensor.Zeros([shape[1]], DType.Float64);
        int c = shape[1], inner = rows ? 1 : shape[2] * shape[3];
        for (int ch = 0; ch < c; ch++)
        {
            double wc = w.GetDouble(ch), bc;
            var mine = Enumerable.Range(0, xhat.Length).Where(i => i / inner % c == ch).Select(i => wc * xhat[i]).ToArray();
            do bc = (rng.NextDouble() * 4 - 2) + (act == Activation.Relu6 ? 3.0 : 0.0);
            while (mine.Any(y => Math.Abs(y + bc) < 0.02 || Math.Abs(y + bc - 6) < 0.02));
            b.Set(bc, ch);
        }
        b.RequireGrad();
        GradGen.AssertGrads($"BatchNorm {act} {ShapeUtil.Format(shape)} affine={withAffine}",
            _ => Functional.BatchNorm(x, null, null, withAffine ? w : null, withAffine ? b : null, training: true, activation: act),
            withAffine ? [x, w, b] : [x]);
    }

    /// <summary>The dims BatchNorm reduces over: all but the channel dim 1.</summary>
    private static int[] BatchDims(int[] shape) => [.. Enumerable.Range(0, shape.Length).Where(d => d != 1)];

    [Property(MaxTest = 30)]
    public void LayerNormGradients(long seed)
    {
        var rng = new SeededRandom(seed);
        var x = GradGen.NormLeaf(rng, [.. TensorGen.RandomShape(rng, 0, 2, 3), rng.Next(2, 6)], [-1]);
        var w = GradGen.Leaf(rng, [x.Size(-1)]);
        var b = GradGen.Leaf(rng, [x.Size(-1)]);
        GradGen.AssertGrads("LayerNorm", _ => Functional.LayerNorm(x, 1, w, b), x, w, b);
        var x4 = GradGen.NormLeaf(rng, [rng.Next(1, 3), rng.Next(2, 5), rng.Next(1, 4), rng.Next(1, 4)], [1]);
        var w4 = GradGen.Leaf(rng, [x4.Size(1)]);
        var b4 = GradGen.Leaf(rng, [x4.Size(1)]);
        GradGen.AssertGrads("LayerNorm2d", _ => Functional.LayerNorm2d(x4, w4, b4), x4, w4, b4);
    }

    [Property(MaxTest = 40)]
    public void PoolingGradients(long seed)
    {
        var rng = new SeededRandom(seed);
        int k = rng.Next(1, 4), s = rng.Next(1, 4), p = rng.Next(0, k / 2 + 1);
        var shape = Nchw(rng, k, k + 4);
        var x = GradGen.DistinctLeaf(rng, shape);         // no ties inside a window: max is differentiable
        GradGen.AssertGrads($"MaxPool2d k{k} s{s} p{p} {ShapeUtil.Format(shape)}", _ => Functional.MaxPool2d(x, k, s, p), x);
        bool include = rng.Next(2) == 0;
        GradGen.AssertGrads($"AvgPool2d k{k} s{s} p{p} include={include}", _ => Functional.AvgPool2d(x, k, s, p, include), x);
        int oh = rng.Next(1, shape[2] + 1), ow = rng.Next(1, shape[3] + 1);
        GradGen.AssertGrads($"AdaptiveAvgPool2d ({oh}, {ow}) of {ShapeUtil.Format(shape)}", _ => Functional.AdaptiveAvgPool2d(x, oh, ow), x);
    }

    [Property(MaxTest = 30)]
    public void LossGradients(long seed)
    {
        var rng = new SeededRandom(seed);
        int n = rng.Next(1, 5), c = rng.Next(2, 5);
        var logits = GradGen.Leaf(rng, [n, c]);
        var labels = Tensor.FromArray(Enumerable.Range(0, n).Select(_ => (long)rng.Next(c)).ToArray());
        double smoothing = rng.Next(2) == 0 ? 0 : 0.1;
        GradGen.AssertGrads("CrossEntropy", _ => Functional.CrossEntropy(logits, labels, smoothing), logits);
        var soft = Functional.Softmax(TensorGen.Random(rng, [n, c], DType.Float64), 1);
        GradGen.AssertGrads("CrossEntropy soft", _ => Functional.CrossEntropy(logits, soft, smoothing), logits);
        var spatial = GradGen.Leaf(rng, [n, c, 2, 3]);
        var spatialLabels = Tensor.FromArray(Enumerable.Range(0, n * 6).Select(_ => (long)rng.Next(c)).ToArray(), [n, 2, 3]);
        GradGen.AssertGrads("CrossEntropy (N, C, H, W)", _ => Functional.CrossEntropy(spatial, spatialLabels), spatial);
        var target = TensorGen.Random(rng, [n, c], DType.Float64);
        var reduction = (Reduction)rng.Next(3);
        GradGen.AssertGrads("MseLoss", _ => Functional.MseLoss(logits, target, reduction), logits);
    }

    [Property(MaxTest = 20)]
    public void DropoutAndDropPathGradients(long seed)
    {
        var rng = new SeededRandom(seed);
        var x = GradGen.Leaf(rng, Nchw(rng));
        double p = rng.NextDouble() * 0.8;
        // A fresh generator per call: the same mask on every evaluation of the function.
        GradGen.AssertGrads("Dropout", _ => Functional.Dropout(x, p, training: true, new Generator((ulong)seed)), x);
        GradGen.AssertGrads("DropPath", _ => Functional.DropPath(x, p, training: true, new Generator((ulong)seed)), x);
    }

    [Property(MaxTest = 30)]
    public void ActivationModulesGradients(long seed)
    {
        var rng = new SeededRandom(seed);
        var x = GradGen.LeafAwayFrom(rng, TensorGen.RandomShape(rng, 1, 3, 4), 1e-3, 0, 6);
        foreach (var m in new Module[] { new ReLU(), new ReLU6(), new GELU(), new Sigmoid(), new Identity(), new Flatten(0) })
            GradGen.AssertGrads(m.ToString(), _ => m.Forward(x) * 1.0, x);
    }

    [Fact]
    public void DropoutScalesKeptValuesAndIsIdentityInEval()
    {
        var x = Tensor.Ones([1000], DType.Float64);
        var y = Functional.Dropout(x, 0.25, training: true, new Generator(1)).ToDoubleArray();
        Assert.All(y, v => Assert.True(v == 0 || Math.Abs(v - 1 / 0.75) < 1e-12));
        double kept = y.Count(v => v != 0) / 1000.0;
        Assert.InRange(kept, 0.7, 0.8);
        Assert.Same(x, Functional.Dropout(x, 0.25, training: false));
        var layer = new DropPath(0.5);
        layer.Eval();
        Assert.Same(x, layer.Forward(x));
    }

    [Fact]
    public void DropPathDropsWholeSamples()
    {
        var x = Tensor.Ones([64, 3, 2, 2], DType.Float64);
        var y = Functional.DropPath(x, 0.5, training: true, new Generator(3));
        var perSample = y.Reshape(64, 12);
        for (int i = 0; i < 64; i++)
        {
            var row = perSample.Select(0, i).ToDoubleArray();
            Assert.True(row.All(v => v == 0) || row.All(v => v == 2), $"sample {i} partly dropped");
        }
    }
}
