using Sparkle.Data;
using Sparkle.Tensors;

namespace Sparkle.Tests.Cli;

/// <summary>A tiny ImageFolder (2 classes of 16x16 PNGs) and temp folders for the CLI tests.</summary>
public sealed class CliTemp : IDisposable
{
    public CliTemp()
    {
        Root = Path.Combine(Path.GetTempPath(), $"sparkle-cli-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Root);
    }

    public string Root { get; }

    public string Dir(string name) => Path.Combine(Root, name);

    /// <summary>A class-folder ImageFolder: class "dark" (values near 0.25) and "light" (near 0.75) with a stripe, n per class.</summary>
    public string ImageFolder(int perClass = 6, int size = 16)
    {
        string root = Dir("images");
        var g = new Generator(11);
        foreach (var (name, level) in new[] { ("dark", 0.25), ("light", 0.75) })
        {
            Directory.CreateDirectory(Path.Combine(root, name));
            for (int i = 0; i < perClass; i++)
            {
                var img = Tensor.Rand([3, size, size], g) * 0.2 + (level - 0.1);
                PngWriter.Save(img, Path.Combine(root, name, $"{i:D2}.png"));
            }
        }
        return root;
    }

    public void Dispose()
    {
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

/// <summary>The CLI tests run alone: they set the global intra-op thread count and allocate a lot, which would disturb
/// tests that measure process-wide managed memory or depend on the thread count.</summary>
[Xunit.CollectionDefinition(Name, DisableParallelization = true)]
public sealed class CliCollection
{
    public const string Name = "Cli";
}
