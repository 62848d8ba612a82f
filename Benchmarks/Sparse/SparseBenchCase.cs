using Sparkle.Sparse;
using Sparkle.Tensors;

namespace Sparkle.Benchmarks.Sparse;

/// <summary>
/// One benchmark case of the sparse suite: a stack of ResNet/ConvNeXt-style conv layers (each followed by ReLU) at a
/// 56x56 map with a 7x7 mask grid (repeat 8) and mask ratio 0.6 (20 of 49 patches visible, 40.8 % active), run
/// forward + backward either sparse (SparseOps.Conv2d) or masked-dense (dense Functional.Conv2d, then × mask: the
/// official SparK formulation). The sparse run opens a fresh SparseContext per iteration, so building the site lists
/// and neighbour maps is part of its time.
/// </summary>
public sealed class SparseBenchCase
{
    public const int F = 7;
    public const double MaskRatio = 0.6;

    private readonly record struct Layer(Tensor Weight, int Stride, int Padding, int Groups);

    private readonly Layer[] _layers;
    private readonly Tensor _x;
    private readonly ActiveMask _mask;

    public string Kind { get; }
    public int Batch { get; }
    public int Size { get; }
    public int Channels { get; }

    /// <summary>Kinds: conv3x3 (4 layers C→C, ResNet basic blocks), conv1x1 (bottleneck 4C→C→4C→C→4C),
    /// dw7x7 (4 depthwise 7x7 layers, ConvNeXt).</summary>
    public SparseBenchCase(string kind, int batch = 4, int size = 56, int channels = 64, int seed = 1)
    {
        Kind = kind;
        Batch = batch;
        Size = size;
        Channels = channels;
        var gen = new Generator((ulong)seed);
        Tensor W(int o, int i, int k) => (Tensor.Randn([o, i, k, k], gen) * Math.Sqrt(2.0 / (i * k * k))).RequireGrad();
        int c = channels;
        _layers = kind switch
        {
            "conv3x3" => [new(W(c, c, 3), 1, 1, 1), new(W(c, c, 3), 1, 1, 1), new(W(c, c, 3), 1, 1, 1), new(W(c, c, 3), 1, 1, 1)],
            "conv1x1" => [new(W(c, 4 * c, 1), 1, 0, 1), new(W(4 * c, c, 1), 1, 0, 1), new(W(c, 4 * c, 1), 1, 0, 1), new(W(4 * c, c, 1), 1, 0, 1)],
            "dw7x7" => [new(W(c, 1, 7), 1, 3, c), new(W(c, 1, 7), 1, 3, c), new(W(c, 1, 7), 1, 3, c), new(W(c, 1, 7), 1, 3, c)],
            _ => throw new ArgumentException($"unknown sparse bench kind '{kind}' (conv3x3, conv1x1, dw7x7)"),
        };
        int cin = kind == "conv1x1" ? 4 * c : c;
        _mask = ActiveMask.Random(batch, F, MaskRatio, new Random(seed));
        using (SparseContext.Begin(_mask))
        {
            var x = Tensor.Randn([batch, cin, size, size], gen);
            _x = SparseOps.ApplyMask(x);
        }
    }

    public double ActiveFraction => (double)_mask.ActiveCount / (Batch * F * F);

    /// <summary>Forward + backward of the sparse stack.</summary>
    public void RunSparse()
    {
        using var ctx = SparseContext.Begin(_mask);
        var h = _x;
        foreach (var l in _layers) h = SparseOps.Conv2d(h, l.Weight, null, [l.Stride], [l.Padding], [1], l.Groups).Relu();
        h.Sum().Backward();
        ClearGrads();
    }

    /// <summary>Forward + backward of the masked-dense stack (dense conv, then × mask).</summary>
    public void RunMaskedDense()
    {
        using var ctx = SparseContext.Begin(_mask);
        var h = _x;
        foreach (var l in _layers) h = MaskedDense.Conv2dOfficial(h, l.Weight, null, [l.Stride], [l.Padding], [1], l.Groups).Relu();
        h.Sum().Backward();
        ClearGrads();
    }

    private void ClearGrads()
    {
        foreach (var l in _layers) l.Weight.Grad = null;
    }
}
