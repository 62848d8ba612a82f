using System.Buffers.Binary;

namespace Sparkle.Data;

/// <summary>What is wrong with an image file: a short category for the skip summary ("truncated JPEG") and the detail.</summary>
public sealed record ImageDefect(string Kind, string Detail)
{
    public override string ToString() => $"{Kind} ({Detail})";
}

/// <summary>
/// A structural check of JPEG and PNG files before StbImageSharp decodes them: stb_image fills a truncated JPEG's
/// missing scan data with grey (a flat lower part; a file cut after its headers decodes into one colour) and checks no
/// PNG CRC. PIL raises for both, and so does this. JPEG: the marker segments are walked, each scan's entropy-coded data
/// is read up to the marker that ends it (stuffed 0xFF00 and restart markers stay inside), and the file must reach EOI
/// after at least one non-empty scan; bytes after EOI are ignored (as libjpeg does), so are progressive files' many
/// scans and tables between them. PNG: every chunk must fit in the file up to IEND and critical chunks (IHDR, PLTE,
/// IDAT, IEND) must match their CRC-32; an ancillary chunk with a bad CRC is tolerated, as libpng tolerates it.
/// Other formats (no JPEG or PNG signature) are left to the decoder.
/// </summary>
public static class ImageIntegrity
{
    public const string TruncatedJpeg = "truncated JPEG";
    public const string TruncatedPng = "truncated PNG";
    public const string BadPngCrc = "bad PNG CRC";
    public const string EmptyFile = "empty file";

    private static ReadOnlySpan<byte> PngSignature => [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    /// <summary>The defect of <paramref name="bytes"/>, or null when the structure is sound (or the format is not checked).</summary>
    public static ImageDefect? Check(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length == 0) return new ImageDefect(EmptyFile, "0 bytes");
        if (bytes.Length >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF) return CheckJpeg(bytes);
        if (bytes.StartsWith(PngSignature)) return CheckPng(bytes);
        return null;
    }

    private static ImageDefect? CheckJpeg(ReadOnlySpan<byte> d)
    {
        int n = d.Length, p = 2, scans = 0;
        bool frame = false;
        while (true)
        {
            // Find the next marker; stray bytes between segments are skipped, as libjpeg skips them (with a warning).
            int ff = d[p..].IndexOf((byte)0xFF);
            if (ff < 0) return JpegEnd(scans, frame, n);
            p += ff;
            while (p < n && d[p] == 0xFF) p++;                        // fill bytes
            if (p >= n) return JpegEnd(scans, frame, n);
            byte m = d[p++];
            if (m == 0xD9) return scans > 0 ? null : new ImageDefect(TruncatedJpeg, frame ? "EOI right after the headers: no scan data" : "no frame header and no scan data");
            if (m is 0x00 or 0x01 or (>= 0xD0 and <= 0xD7)) continue;  // stuffed byte, TEM, restart: no length
            if (p + 2 > n) return new ImageDefect(TruncatedJpeg, $"marker 0xFF{m:X2} at byte {p - 2} has no length; the file ends at byte {n}");
            int len = BinaryPrimitives.ReadUInt16BigEndian(d[p..]);
            if (len < 2) return new ImageDefect(TruncatedJpeg, $"marker 0xFF{m:X2} at byte {p - 2} has length {len}");
            if (p + len > n) return new ImageDefect(TruncatedJpeg, $"segment 0xFF{m:X2} at byte {p - 2} needs {len} bytes; the file ends {n - p} bytes after it starts");
            if (m is (>= 0xC0 and <= 0xCF) and not (0xC4 or 0xC8 or 0xCC)) frame = true;
            p += len;
            if (m != 0xDA) continue;
            // Entropy-coded data: ends at the first 0xFF followed by a byte other than 0x00 (stuffing), 0xD0-0xD7
            // (restart) or 0xFF (fill before the next marker).
            int start = p;
            if (p == n) return JpegEnd(scans, frame, n);
            while (true)
            {
                int k = d[p..].IndexOf((byte)0xFF);
                if (k < 0) return ScanEnd(scans, n - start, n);
                p += k;
                int q = p + 1;
                while (q < n && d[q] == 0xFF) q++;
                if (q >= n) return ScanEnd(scans, n - start, n);
                if (d[q] == 0x00 || d[q] is >= 0xD0 and <= 0xD7) { p = q + 1; continue; }
                break;                                                 // p is at the marker that ends the scan
            }
            if (p == start) return new ImageDefect(TruncatedJpeg, $"scan {scans + 1} at byte {start} is empty");
            scans++;
        }
    }

    private static ImageDefect ScanEnd(int scansBefore, int scanBytes, int n) =>
        new(TruncatedJpeg, $"no EOI marker: the file ends {scanBytes} bytes into scan {scansBefore + 1}, at byte {n}");

    private static ImageDefect JpegEnd(int scans, bool frame, int n) => new(TruncatedJpeg,
        scans > 0 ? $"no EOI marker; the file ends at byte {n}"
        : frame ? $"the file ends after the headers, at byte {n}: no scan data"
        : $"the file ends at byte {n} before a frame header");

    private static ImageDefect? CheckPng(ReadOnlySpan<byte> d)
    {
        int n = d.Length, p = PngSignature.Length;
        bool idat = false;
        while (true)
        {
            if (p + 8 > n)
                return new ImageDefect(TruncatedPng, p == n ? $"no IEND chunk; the file ends at byte {n} after a complete chunk" : $"a chunk header at byte {p} is cut off at byte {n}");
            uint len = BinaryPrimitives.ReadUInt32BigEndian(d[p..]);
            var type = d.Slice(p + 4, 4);
            string name = ChunkName(type);
            if (len > int.MaxValue) return new ImageDefect(TruncatedPng, $"chunk '{name}' at byte {p} claims {len} bytes");
            if ((long)p + 12 + len > n)
                return new ImageDefect(TruncatedPng, $"chunk '{name}' at byte {p} needs {12 + len} bytes; the file ends {n - p} bytes after it starts");
            bool critical = (type[0] & 0x20) == 0;                    // upper-case first letter
            uint stored = BinaryPrimitives.ReadUInt32BigEndian(d[(p + 8 + (int)len)..]);
            if (critical && Crc32.Of(d.Slice(p + 4, 4 + (int)len)) != stored)
                return new ImageDefect(BadPngCrc, $"chunk '{name}' at byte {p} fails its CRC-32");
            if (name == "IDAT") idat = true;
            p += 12 + (int)len;
            if (name == "IEND") return idat ? null : new ImageDefect(TruncatedPng, "IEND without any IDAT (no image data)");
        }
    }

    private static string ChunkName(ReadOnlySpan<byte> type)
    {
        Span<char> s = stackalloc char[4];
        for (int i = 0; i < 4; i++) s[i] = type[i] is >= 0x20 and < 0x7F ? (char)type[i] : '?';
        return new string(s);
    }

    /// <summary>CRC-32 (ISO 3309, the PNG/zlib polynomial 0xEDB88320), table-driven.</summary>
    internal static class Crc32
    {
        private static readonly uint[] Table = Build();

        private static uint[] Build()
        {
            var t = new uint[256];
            for (uint i = 0; i < 256; i++)
            {
                uint c = i;
                for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
                t[i] = c;
            }
            return t;
        }

        public static uint Of(ReadOnlySpan<byte> data)
        {
            uint c = 0xFFFFFFFFu;
            foreach (byte b in data) c = Table[(c ^ b) & 0xFF] ^ (c >> 8);
            return c ^ 0xFFFFFFFFu;
        }
    }
}
