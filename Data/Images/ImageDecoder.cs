using StbImageSharp;

namespace Sparkle.Data;

/// <summary>
/// Decodes JPEG, PNG, BMP, GIF (first frame), TGA, PSD and PNM bytes with StbImageSharp (a managed port of stb_image).
/// Like PIL's <c>convert('RGB')</c> in the official SparK loader, alpha is dropped (not composited); grey images stay
/// one channel (transforms replicate them to 3), everything else becomes RGB. A file whose structure is broken (a
/// truncated JPEG or PNG, a PNG CRC error: <see cref="ImageIntegrity"/>) is refused before stb_image sees it, which would
/// decode a truncated JPEG into a picture with a flat grey part.
/// </summary>
public static class ImageDecoder
{
    /// <summary>Decodes <paramref name="bytes"/>; throws <see cref="InvalidDataException"/> naming <paramref name="name"/>
    /// when the data is not a decodable image. <paramref name="checkStructure"/> false skips the
    /// <see cref="ImageIntegrity"/> pass for bytes already checked (an <see cref="ImageFolder"/> checks every file when it
    /// opens; repeating the walk and the PNG CRCs on every training read would be the same work again).</summary>
    public static DecodedImage Decode(byte[] bytes, string name, bool checkStructure = true)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        if (checkStructure && ImageIntegrity.Check(bytes) is { } defect) throw new InvalidDataException($"{name}: {defect}.");
        ImageResult r;
        try
        {
            r = ImageResult.FromMemory(bytes, ColorComponents.Default);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new InvalidDataException($"{name}: not a decodable image ({Readable(e.Message)}).", e);
        }
        if (r is null || r.Data is null || r.Width <= 0 || r.Height <= 0)
            throw new InvalidDataException($"{name}: not a decodable image (the decoder returned nothing).");
        int src = r.Comp switch
        {
            ColorComponents.Grey => 1,
            ColorComponents.GreyAlpha => 2,
            ColorComponents.RedGreenBlue => 3,
            ColorComponents.RedGreenBlueAlpha => 4,
            _ => throw new InvalidDataException($"{name}: unsupported colour layout {r.Comp}."),
        };
        long n = (long)r.Width * r.Height;
        if (r.Data.Length < n * src)
            throw new InvalidDataException($"{name}: decoder returned {r.Data.Length} bytes for {r.Width}x{r.Height}x{src}.");
        if (src is 1 or 3) return new DecodedImage(r.Width, r.Height, src, r.Data.AsMemory(0, (int)(n * src)));
        int dstC = src == 2 ? 1 : 3;
        var px = new byte[n * dstC];
        for (long i = 0; i < n; i++)
            for (int c = 0; c < dstC; c++)
                px[i * dstC + c] = r.Data[i * src + c];
        return new DecodedImage(r.Width, r.Height, dstC, px);
    }

    /// <summary>stb_image's reason without the NUL padding and control characters its port leaves in (a truncated PNG's
    /// reason printed as 25 NUL bytes).</summary>
    internal static string Readable(string? reason)
    {
        var s = new string((reason ?? "").Where(ch => !char.IsControl(ch)).ToArray()).Trim();
        return s.Length > 0 ? s : "the decoder gave no reason";
    }

    /// <summary>Reads and decodes a file; I/O and format problems throw with the path in the message.</summary>
    public static DecodedImage DecodeFile(string path, bool checkStructure = true)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"{path}: cannot be read ({e.Message}).", e);
        }
        return Decode(bytes, path, checkStructure);
    }
}
