using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;

namespace Sparkle.Data;

/// <summary>
/// A directory of images, decoded lazily with StbImageSharp (<see cref="ImageDecoder"/>). Labeled layout
/// (torchvision ImageFolder): every first-level sub-folder is a class, classes sorted by ordinal name, files found
/// recursively below each class folder. Flat layout: a folder without sub-folders is one unlabeled set (labels −1).
/// Files are recognised by extension (.jpg .jpeg .png .bmp .gif .tga .ppm .pgm, any case) and listed in ordinal
/// path order. An unreadable or corrupt file is reported once (path and reason) through the log callback (stderr by
/// default) and <see cref="TryLoad"/> returns false; the loader then substitutes the next item — never fatal.
/// </summary>
public sealed class ImageFolder : IImageDataset
{
    private static readonly HashSet<string> Extensions = new(StringComparer.OrdinalIgnoreCase)
        { ".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tga", ".ppm", ".pgm" };

    private readonly string[] _paths;
    private readonly int[] _labels;
    private readonly Action<string> _log;
    private readonly ConcurrentDictionary<int, string> _failures = new();

    /// <summary>Scans <paramref name="root"/>. With <paramref name="labeled"/> null the layout decides: class folders
    /// if <paramref name="root"/> has sub-folders, flat otherwise. <paramref name="log"/> receives one line per bad file.</summary>
    public ImageFolder(string root, bool? labeled = null, Action<string>? log = null)
    {
        ArgumentNullException.ThrowIfNull(root);
        if (!Directory.Exists(root)) throw new DirectoryNotFoundException($"ImageFolder: directory not found: {root}");
        Root = Path.GetFullPath(root);
        _log = log ?? (line => Console.Error.WriteLine(line));
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
        _paths = paths.ToArray();
        _labels = labels.ToArray();
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
            image = ImageDecoder.DecodeFile(_paths[index]);
            return true;
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException or ArgumentException)
        {
            if (_failures.TryAdd(index, e.Message)) _log("skipping image " + e.Message); // the message starts with the path
            return false;
        }
    }

    private static IEnumerable<string> ImagesUnder(string dir, SearchOption option) =>
        Directory.EnumerateFiles(dir, "*", option)
                 .Where(f => Extensions.Contains(Path.GetExtension(f)))
                 .OrderBy(f => f, StringComparer.Ordinal);
}
