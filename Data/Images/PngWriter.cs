using Sparkle.Tensors;
using StbImageWriteSharp;

namespace Sparkle.Data;

/// <summary>
/// PNG output for the trainer (StbImageWriteSharp): a single image tensor, or a grid whose rows are samples and whose
/// columns are tensors of the same shape (e.g. input | masked | reconstruction). Normalised tensors are mapped back
/// with the given <see cref="Normalization"/>; values are clamped to [0, 1] and rounded to 8 bits. Files are written
/// to a temporary name and renamed, so a reader never sees half a PNG.
/// </summary>
public static class PngWriter
{
    /// <summary>Encodes a (3, H, W) or (1, H, W) tensor (or (H, W)) as PNG bytes. With <paramref name="normalization"/>
    /// the values are de-normalised first; without it they are taken as [0, 1].</summary>
    public static byte[] Encode(Tensor image, Normalization? normalization = null)
    {
        var (c, h, w, px) = ToBytes(image, normalization);
        return EncodeBytes(px, w, h, c);
    }

    /// <summary>Writes <paramref name="image"/> ((3|1, H, W)) to <paramref name="path"/> as PNG.</summary>
    public static void Save(Tensor image, string path, Normalization? normalization = null) =>
        WriteAtomically(path, Encode(image, normalization));

    /// <summary>
    /// A grid: row i shows <c>columns[0][i] | columns[1][i] | ...</c>; every column is a (N, C, H, W) tensor of the same
    /// shape (C = 1 or 3). Cells are separated by <paramref name="padding"/> pixels of <paramref name="background"/> grey.
    /// At most <paramref name="maxRows"/> rows are drawn.
    /// </summary>
    public static byte[] EncodeGrid(IReadOnlyList<Tensor> columns, Normalization? normalization = null, int padding = 2,
                                    byte background = 255, int maxRows = int.MaxValue)
    {
        ArgumentNullException.ThrowIfNull(columns);
        if (columns.Count == 0) throw new ArgumentException("PngWriter.EncodeGrid: no columns.");
        var shape = columns[0].ShapeArray();
        if (shape.Length != 4 || shape[1] is not (1 or 3))
            throw new ArgumentException($"PngWriter.EncodeGrid: columns must be (N, 1|3, H, W), got [{string.Join(", ", shape)}].");
        for (int k = 1; k < columns.Count; k++)
            if (!columns[k].Shape.SequenceEqual(shape))
                throw new ArgumentException($"PngWriter.EncodeGrid: column {k} has shape [{string.Join(", ", columns[k].ShapeArray())}], column 0 has [{string.Join(", ", shape)}].");
        int n = Math.Min(shape[0], maxRows), c = shape[1], h = shape[2], w = shape[3];
        if (n <= 0) throw new ArgumentException("PngWriter.EncodeGrid: no rows to draw.");
        int cols = columns.Count;
        int gw = cols * w + (cols + 1) * padding, gh = n * h + (n + 1) * padding;
        var grid = new byte[gw * gh * 3];
        Array.Fill(grid, background);
        for (int k = 0; k < cols; k++)
        {
            var data = columns[k].To(Device.Cpu).To(DType.Float32).ToArray<float>();
            for (int i = 0; i < n; i++)
            {
                int ox = padding + k * (w + padding), oy = padding + i * (h + padding);
                for (int y = 0; y < h; y++)
                    for (int x = 0; x < w; x++)
                        for (int ch = 0; ch < 3; ch++)
                        {
                            int sc = c == 1 ? 0 : ch;
                            float v = data[((i * c + sc) * h + y) * w + x];
                            grid[((oy + y) * gw + ox + x) * 3 + ch] = ToByte(normalization is null ? v : normalization.Denormalize(v, ch));
                        }
            }
        }
        return EncodeBytes(grid, gw, gh, 3);
    }

    /// <summary>Writes <see cref="EncodeGrid"/> to <paramref name="path"/>.</summary>
    public static void SaveGrid(string path, IReadOnlyList<Tensor> columns, Normalization? normalization = null, int padding = 2,
                                byte background = 255, int maxRows = int.MaxValue) =>
        WriteAtomically(path, EncodeGrid(columns, normalization, padding, background, maxRows));

    /// <summary>PNG bytes of HWC 8-bit pixels with 1 or 3 channels.</summary>
    public static byte[] EncodeBytes(byte[] pixels, int width, int height, int channels)
    {
        ArgumentNullException.ThrowIfNull(pixels);
        if (channels is not (1 or 3) || pixels.Length != width * height * channels)
            throw new ArgumentException($"PngWriter: {pixels.Length} bytes do not make a {width}x{height}x{channels} image.");
        using var ms = new MemoryStream();
        new ImageWriter().WritePng(pixels, width, height, channels == 1 ? ColorComponents.Grey : ColorComponents.RedGreenBlue, ms);
        return ms.ToArray();
    }

    /// <summary>Writes <paramref name="bytes"/> to a temporary file beside <paramref name="path"/>, then renames it.</summary>
    public static void WriteAtomically(string path, byte[] bytes)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
        var tmp = path + ".tmp";
        File.WriteAllBytes(tmp, bytes);
        File.Move(tmp, path, overwrite: true);
    }

    private static (int C, int H, int W, byte[] Pixels) ToBytes(Tensor image, Normalization? normalization)
    {
        ArgumentNullException.ThrowIfNull(image);
        var shape = image.ShapeArray();
        if (shape.Length == 2) shape = [1, shape[0], shape[1]];
        if (shape.Length != 3 || shape[0] is not (1 or 3))
            throw new ArgumentException($"PngWriter: expected a (3, H, W) or (1, H, W) tensor, got [{string.Join(", ", image.ShapeArray())}].");
        int c = shape[0], h = shape[1], w = shape[2];
        var data = image.To(Device.Cpu).To(DType.Float32).ToArray<float>();
        var px = new byte[c * h * w];
        for (int ch = 0; ch < c; ch++)
            for (int i = 0; i < h * w; i++)
            {
                float v = data[ch * h * w + i];
                px[i * c + ch] = ToByte(normalization is null ? v : normalization.Denormalize(v, ch));
            }
        return (c, h, w, px);
    }

    private static byte ToByte(float v) => float.IsNaN(v) ? (byte)0 : (byte)MathF.Round(Math.Clamp(v, 0f, 1f) * 255f);
}
