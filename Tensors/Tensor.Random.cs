using Sparkle.Tensors.Backend;

namespace Sparkle.Tensors;

/// <summary>
/// Random factories and in-place fills. Each draw of n elements takes the next n counters of its generator
/// (default: <see cref="Generator.Default"/>), so a run is reproducible from its seed, for any thread count.
/// </summary>
public sealed partial class Tensor
{
    /// <summary>Uniform on [0, 1) (torch.rand).</summary>
    public static Tensor Rand(int[] shape, Generator? generator = null, DType dtype = DType.Float32, Device? device = null)
        => Uniform(shape, 0, 1, generator, dtype, device);

    /// <summary>Standard normal (torch.randn).</summary>
    public static Tensor Randn(int[] shape, Generator? generator = null, DType dtype = DType.Float32, Device? device = null)
        => Normal(shape, 0, 1, generator, dtype, device);

    /// <summary>Uniform on [low, high).</summary>
    public static Tensor Uniform(int[] shape, double low, double high, Generator? generator = null, DType dtype = DType.Float32, Device? device = null)
        => Empty(shape, dtype, BackendOf(device)).Uniform_(low, high, generator);

    public static Tensor Normal(int[] shape, double mean, double std, Generator? generator = null, DType dtype = DType.Float32, Device? device = null)
        => Empty(shape, dtype, BackendOf(device)).Normal_(mean, std, generator);

    /// <summary>Normal(mean, std) truncated to the absolute bounds [a, b] (timm/torch trunc_normal_).</summary>
    public static Tensor TruncNormal(int[] shape, double mean, double std, double a, double b, Generator? generator = null, DType dtype = DType.Float32, Device? device = null)
        => Empty(shape, dtype, BackendOf(device)).TruncNormal_(mean, std, a, b, generator);

    /// <summary>1 with probability p, else 0; any dtype (Bool for masks).</summary>
    public static Tensor Bernoulli(int[] shape, double p, Generator? generator = null, DType dtype = DType.Float32, Device? device = null)
        => Empty(shape, dtype, BackendOf(device)).Bernoulli_(p, generator);

    /// <summary>Integers uniform on [low, high) (torch.randint).</summary>
    public static Tensor Randint(long low, long high, int[] shape, Generator? generator = null, DType dtype = DType.Int64, Device? device = null)
    {
        if (high <= low) throw new ArgumentException($"Randint: high ({high}) must be greater than low ({low}).");
        // RandomSpec carries its parameters as doubles, exact for integers up to 2^53.
        if (Math.Abs((double)low) > (1L << 53) || Math.Abs((double)high) > (1L << 53))
            throw new ArgumentException($"Randint: bounds must lie within ±2^53, got [{low}, {high}).");
        var t = Empty(shape, dtype, BackendOf(device));
        return t.FillRandom(new RandomSpec(RandomKind.Randint, low, high), generator);
    }

    /// <summary>A random permutation of 0..n-1 (Int64). Element i gets the key Philox(seed, offset + i)
    /// (<see cref="PhiloxSampling.PermutationKey"/>); the result is the indices sorted by (key, i). Computed on
    /// the host, then moved to <paramref name="device"/>.</summary>
    public static Tensor Randperm(int n, Generator? generator = null, Device? device = null)
    {
        if (n < 0) throw new ArgumentException($"Randperm: n must be non-negative, got {n}.");
        var (seed, offset) = (generator ?? Generator.Default).Advance((ulong)n);
        var keys = new ulong[n];
        var perm = new long[n];
        for (int i = 0; i < n; i++)
        {
            keys[i] = PhiloxSampling.PermutationKey(Philox.At(seed, unchecked(offset + (ulong)i)));
            perm[i] = i;
        }
        Array.Sort(keys, perm);
        // Array.Sort is not stable: order equal keys (probability ~n²/2^65) by index so the result is defined.
        for (int i = 0; i < n;)
        {
            int j = i + 1;
            while (j < n && keys[j] == keys[i]) j++;
            if (j - i > 1) Array.Sort(perm, i, j - i);
            i = j;
        }
        return FromArray(perm, device: device);
    }

    public static Tensor RandLike(Tensor t, Generator? generator = null) => Rand(t.ShapeArray(), generator, t.DType, t.Device);
    public static Tensor RandnLike(Tensor t, Generator? generator = null) => Randn(t.ShapeArray(), generator, t.DType, t.Device);

    /// <summary>In place: uniform on [low, high). Returns this.</summary>
    public Tensor Uniform_(double low = 0, double high = 1, Generator? generator = null)
    {
        CheckFloating("Uniform_", this);
        if (!(high >= low) || double.IsInfinity(high - low))
            throw new ArgumentException($"Uniform_: need finite low <= high, got [{low}, {high}).");
        return FillRandom(new RandomSpec(RandomKind.Uniform, low, high), generator);
    }

    /// <summary>In place: normal(mean, std). Returns this.</summary>
    public Tensor Normal_(double mean = 0, double std = 1, Generator? generator = null)
    {
        CheckFloating("Normal_", this);
        if (!(std >= 0)) throw new ArgumentException($"Normal_: std must be >= 0, got {std}.");
        return FillRandom(new RandomSpec(RandomKind.Normal, mean, std), generator);
    }

    /// <summary>In place: normal(mean, std) truncated to the absolute bounds [a, b], by the inverse-CDF
    /// method of torch.nn.init.trunc_normal_ (SPARK.md §2.5). Returns this.</summary>
    public Tensor TruncNormal_(double mean = 0, double std = 1, double a = -2, double b = 2, Generator? generator = null)
    {
        CheckFloating("TruncNormal_", this);
        if (!(std > 0)) throw new ArgumentException($"TruncNormal_: std must be > 0, got {std}.");
        if (!(a < b)) throw new ArgumentException($"TruncNormal_: need a < b, got [{a}, {b}].");
        return FillRandom(new RandomSpec(RandomKind.TruncatedNormal, mean, std, a, b), generator);
    }

    /// <summary>In place: 1 with probability p, else 0. Returns this.</summary>
    public Tensor Bernoulli_(double p, Generator? generator = null)
    {
        if (!(p >= 0 && p <= 1)) throw new ArgumentException($"Bernoulli_: p must be in [0, 1], got {p}.");
        return FillRandom(new RandomSpec(RandomKind.Bernoulli, p), generator);
    }

    /// <summary>Draws NumElements counters and lets the backend fill them in row-major order. A view that is
    /// not contiguous is filled through a contiguous temporary, so its values are the same as a fresh tensor's.</summary>
    private Tensor FillRandom(RandomSpec spec, Generator? generator)
    {
        CheckWritable("random fill");
        var (seed, offset) = (generator ?? Generator.Default).Advance((ulong)NumElements);
        if (NumElements == 0) return this;
        if (IsContiguous) { Backend.Random(spec, this, seed, offset); return this; }
        var tmp = NewEmpty(_shape, DType);
        Backend.Random(spec, tmp, seed, offset);
        Backend.Copy(tmp, this);
        return this;
    }
}
