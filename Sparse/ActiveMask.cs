using Sparkle.Tensors;

namespace Sparkle.Sparse;

/// <summary>
/// SparK's patch mask: (B, 1, fh, fw) booleans, true = visible ("active") patch. At a feature map of size (H, W)
/// (integer multiples of fh, fw) it is nearest-repeated by (H / fh, W / fw) (SPARK.md §1.2); it is never interpolated.
/// Immutable: one mask per forward.
/// </summary>
public sealed class ActiveMask
{
    private readonly bool[] _bits;

    /// <summary>From a (B, 1, fh, fw) tensor of any dtype (non-zero = active), on any device.</summary>
    public ActiveMask(Tensor mask)
    {
        ArgumentNullException.ThrowIfNull(mask);
        if (mask.Rank != 4 || mask.Size(1) != 1)
            throw new ArgumentException($"ActiveMask: expected a (B, 1, f, f) mask, got shape {ShapeUtil.Format(mask.Shape)}.");
        Batch = mask.Size(0);
        Height = mask.Size(2);
        Width = mask.Size(3);
        var v = mask.ToDoubleArray();
        _bits = v.Select(d => d != 0).ToArray();
    }

    /// <summary>From row-major booleans b*fh*fw + i*fw + j.</summary>
    public ActiveMask(int batch, int height, int width, bool[] bits)
    {
        ArgumentNullException.ThrowIfNull(bits);
        if (batch <= 0 || height <= 0 || width <= 0 || bits.Length != batch * height * width)
            throw new ArgumentException($"ActiveMask: {bits.Length} bits do not fill ({batch}, 1, {height}, {width}).");
        Batch = batch;
        Height = height;
        Width = width;
        _bits = (bool[])bits.Clone();
    }

    public int Batch { get; }
    /// <summary>fh: rows of the patch grid.</summary>
    public int Height { get; }
    /// <summary>fw: columns of the patch grid.</summary>
    public int Width { get; }

    public bool this[int b, int i, int j] => _bits[(b * Height + i) * Width + j];

    /// <summary>The bits themselves (b·fh·fw + i·fw + j), shared with the kernels' <see cref="Sparkle.Tensors.Backend.SparseSites"/>; never modified.</summary>
    internal bool[] Bits => _bits;

    /// <summary>Number of active patches over the batch.</summary>
    public int ActiveCount => _bits.Count(x => x);

    /// <summary>The mask as a (B, 1, fh, fw) bool tensor.</summary>
    public Tensor ToTensor() => Tensor.FromArray((bool[])_bits.Clone(), [Batch, 1, Height, Width]);

    /// <summary>
    /// SparK's sampling (SPARK.md §1.1): len_keep = round(f·f·(1 − ratio)) (half to even) visible patches per image,
    /// a uniform random subset per image.
    /// </summary>
    public static ActiveMask Random(int batch, int f, double maskRatio, Random rng)
    {
        ArgumentNullException.ThrowIfNull(rng);
        if (f <= 0 || batch <= 0 || maskRatio < 0 || maskRatio >= 1)
            throw new ArgumentException($"ActiveMask.Random: batch {batch} and f {f} must be positive and 0 <= maskRatio < 1, got {maskRatio}.");
        int l = f * f;
        int keep = (int)Math.Round(l * (1 - maskRatio), MidpointRounding.ToEven);
        var bits = new bool[batch * l];
        for (int b = 0; b < batch; b++)
        {
            var noise = Enumerable.Range(0, l).Select(_ => rng.NextDouble()).ToArray();
            var order = Enumerable.Range(0, l).OrderBy(i => noise[i]).ToArray();
            for (int k = 0; k < keep; k++) bits[b * l + order[k]] = true;
        }
        return new ActiveMask(batch, f, f, bits);
    }

    /// <summary>True at (b, y, x) of an (H, W) map: the patch (y / (H / fh), x / (W / fw)) is active.</summary>
    internal bool ActiveAt(int b, int y, int x, int ry, int rx) => _bits[(b * Height + y / ry) * Width + x / rx];

    /// <summary>The repeat factors at an (H, W) map; throws unless H and W are multiples of the grid.</summary>
    internal (int Ry, int Rx) RepeatFactors(int h, int w, string op)
    {
        if (h <= 0 || w <= 0 || h % Height != 0 || w % Width != 0)
            throw new ArgumentException($"{op}: a {h}x{w} feature map is not an integer multiple of the {Height}x{Width} mask grid " +
                "(every feature-map side must be k·f; SPARK.md §1.2).");
        return (h / Height, w / Width);
    }
}
