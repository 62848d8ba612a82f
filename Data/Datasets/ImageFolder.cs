using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;

namespace Sparkle.Data;

/// <summary>
/// A directory of images, decoded lazily with StbImageSharp (<see cref="ImageDecoder"/>). Labeled layout
/// (torchvision ImageFolder): every first-level sub-folder is a class, classes sorted by ordinal name, files found
/// recursively below each class folder. Flat layout: a folder without sub-folders is one unlabeled set (labels −1).
/// Files are recognised by extension (.jpg .jpeg .png .bmp .gif .tga .ppm .pgm, any case) and listed in ordinal
/// path order. Opening the folder reads every file once and checks its structure (<see cref="ImageIntegrity"/>: a
/// truncated JPEG or PNG, a PNG CRC error, an empty or unreadable file): a bad file is reported (path and reason) through
/// the log callback (stderr by default) and left out, so it never reaches a batch (<see cref="Skipped"/>,
/// <see cref="SkipSummary"/>); with <c>strict</c> the first bad file throws instead. A file that passes the check but
/// fails to decode later is reported once and <see cref="TryLoad"/> returns false (the loader substitutes the next
/// item), or throws with <c>strict</c>.
/// </summary>
public sealed class ImageFolder : IImageDataset
{
    private static readonly HashSet<string> Extensions = new(StringComparer.OrdinalIgnoreCase)
        { ".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tga", ".ppm", ".pgm" };

    private readonly string[] _paths;
    private readonly int[] _labels;
    private readonly Action<string> _log;
    private readonly bool _strict;
    private readonly ConcurrentDictionary<int, string> _failures = new();

    /// <summary>Scans <paramref name="root"/>. With <paramref name="labeled"/> null the layout decides: class folders
    /// if <paramref name="root"/> has sub-folders, flat otherwise. <paramref name="log"/> receives one line per bad file.
    /// <paramref name="strict"/>: a bad file throws <see cref="InvalidDataException"/> naming it instead of being skipped.</summary>
    public ImageFolder(string root, bool? labeled = null, Action<string>? log = null, bool strict = false)
    {
        ArgumentNullException.ThrowIfNull(root);
        if (!Directory.Exists(root)) throw new DirectoryNotFoundException($"ImageFolder: directory not found: {root}");
        Root = Path.GetFullPath(root);
        _log = log ?? (line => Console.Error.WriteLine(line));
        _strict = strict;
        var classDirs = Directory.GetDirectories(Root).OrderBy(d => Path.GetFileName(d), StringComparer.Ordinal).ToArray();
        bool byClass = labeled ?? classDirs.Length > 0;
        var paths = new List<string>();
        var labels = new List<int>();
        if (byClass)
        {
            if (classDirs.Length == 0) throw new InvalidDataException($"ImageFolder: {Root} has no class sub-folders.");
            Classes = classDirs.Select(d => Path.GetFileName(d)!).ToArray();
            for (int c = 0; c < classDirs.Length; c++)
                foreach (var f in ImagesUnder(classDirs[c], SearchOption.AllDirectories))
                {
                    paths.Add(f);
                    labels.Add(c);
                }
        }
        else
        {
            Classes = [];
            foreach (var f in ImagesUnder(Root, SearchOption.AllDirectories))
            {
                paths.Add(f);
                labels.Add(-1);
            }
        }
        if (paths.Count == 0) throw new InvalidDataException($"ImageFolder: no image files (jpg, png, ...) under {Root}.");
        Scanned = paths.Count;
        var defects = CheckFiles(paths, strict);
        var skipped = new List<(string, ImageDefect)>();
        for (int i = 0; i < defects.Length; i++)
            if (defects[i] is { } d)
            {
                if (strict) throw new InvalidDataException($"{paths[i]}: {d}.");
                skipped.Add((paths[i], d));
                _log($"skipping image {paths[i]}: {d}");
            }
        Skipped = skipped;
        _paths = paths.Where((_, i) => defects[i] is null).ToArray();
        _labels = labels.Where((_, i) => defects[i] is null).ToArray();
        if (_paths.Length == 0) throw new InvalidDataException($"ImageFolder: none of the {Scanned} image files under {Root} is sound ({SkipSummary}).");
    }

    /// <summary>Image files found (before any was left out).</summary>
    public int Scanned { get; }

    /// <summary>Files left out when the folder was opened, in path order, with what is wrong with each.</summary>
    public IReadOnlyList<(string Path, ImageDefect Defect)> Skipped { get; }

    /// <summary>"skipped 3 of 265 files: 2 truncated JPEG, 1 bad PNG CRC", or null when none was skipped.</summary>
    public string? SkipSummary => Summary([this]);

    /// <summary>One line for several folders (a train and a val split), or null when none skipped a file.</summary>
    public static string? Summary(IEnumerable<ImageFolder> folders)
    {
        var list = folders.ToList();
        int bad = list.Sum(f => f.Skipped.Count);
        if (bad == 0) return null;
        var kinds = list.SelectMany(f => f.Skipped).GroupBy(s => s.Defect.Kind).OrderByDescending(g => g.Count()).ThenBy(g => g.Key, StringComparer.Ordinal)
                        .Select(g => $"{g.Count()} {g.Key}");
        return $"skipped {bad} of {list.Sum(f => f.Scanned)} files: {string.Join(", ", kinds)}";
    }

    /// <summary>Reads every file (in parallel: the check is disk-bound) and checks its structure. With
    /// <paramref name="strict"/> the scan stops once a bad file is found; the files before it are all checked.</summary>
    private static ImageDefect?[] CheckFiles(List<string> paths, bool strict)
    {
        var defects = new ImageDefect?[paths.Count];
        var options = new ParallelOptions { MaxDegreeOfParallelism = Math.Clamp(Environment.ProcessorCount, 1, 8) };
        Parallel.For(0, paths.Count, options, (i, state) =>
        {
            try
            {
                defects[i] = ImageIntegrity.Check(File.ReadAllBytes(paths[i]));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                defects[i] = new ImageDefect("unreadable file", e.Message);
            }
            if (strict && defects[i] is not null) state.Break();
        });
        return defects;
    }

    public string Root { get; }
    public int Count => _paths.Length;
    public IReadOnlyList<string> Classes { get; }

    /// <summary>Files that failed so far, with the reason (each was reported once).</summary>
    public IReadOnlyDictionary<string, string> Failures =>
        _failures.ToDictionary(kv => _paths[kv.Key], kv => kv.Value);

    public int Label(int index) => _labels[index];
    public string Describe(int index) => _paths[index];

    public bool TryLoad(int index, [NotNullWhen(true)] out DecodedImage? image)
    {
        image = null;
        if (_failures.ContainsKey(index)) return false;
        try
        {
            image = ImageDecoder.DecodeFile(_paths[index], checkStructure: false);   // checked when the folder opened
            return true;
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException or ArgumentException)
        {
            if (_strict) throw new InvalidDataException(e.Message, e);                // the message starts with the path
            if (_failures.TryAdd(index, e.Message)) _log("skipping image " + e.Message);
            return false;
        }
    }

    private static IEnumerable<string> ImagesUnder(string dir, SearchOption option) =>
        Directory.EnumerateFiles(dir, "*", option)
                 .Where(f => Extensions.Contains(Path.GetExtension(f)))
                 .OrderBy(f => f, StringComparer.Ordinal);
}
