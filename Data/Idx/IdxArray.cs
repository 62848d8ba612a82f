namespace Sparkle.Data;

/// <summary>An IDX array of unsigned bytes (type code 0x08): its dimensions and its row-major data.
/// This is the format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/, "THE IDX FILE FORMAT").</summary>
public sealed class IdxArray
{
    public IdxArray(int[] dims, byte[] data)
    {
        ArgumentNullException.ThrowIfNull(dims);
        ArgumentNullException.ThrowIfNull(data);
        if (dims.Length is < 1 or > 255) throw new ArgumentException($"IDX: 1 to 255 dimensions, got {dims.Length}.");
        long n = 1;
        foreach (var d in dims)
        {
            if (d < 0) throw new ArgumentException($"IDX: negative dimension in [{string.Join(", ", dims)}].");
            n *= d;
        }
        if (n != data.Length) throw new ArgumentException($"IDX: {data.Length} bytes do not fill dimensions [{string.Join(", ", dims)}].");
        Dims = (int[])dims.Clone();
        Data = data;
    }

    /// <summary>Dimensions, outermost first (e.g. [60000, 28, 28] for an image file).</summary>
    public int[] Dims { get; }

    /// <summary>Row-major bytes (not copied).</summary>
    public byte[] Data { get; }

    /// <summary>Number of items along the first dimension.</summary>
    public int Count => Dims[0];

    /// <summary>Bytes per item (product of the other dimensions).</summary>
    public int ItemSize => Dims.Skip(1).Aggregate(1, (a, b) => a * b);
}
