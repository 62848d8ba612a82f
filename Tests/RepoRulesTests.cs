using System.Text.RegularExpressions;
using Xunit;

namespace Sparkle.Tests;

/// <summary>Rules of the repo that a compiler switch cannot enforce.</summary>
public class RepoRulesTests
{
    /// <summary>`unsafe` pays only where a benchmark showed it (docs/gemm.md: the C-tile prefetch, which needs a
    /// pointer). AllowUnsafeBlocks is project-wide, so this test keeps it to the files listed here.</summary>
    private static readonly string[] UnsafeAllowed = ["Tensors/Cpu/Gemm/CachePrefetch.cs"];

    [Fact]
    public void UnsafeCodeOnlyWhereMeasured()
    {
        var root = RepoRoot();
        var offenders = new List<string>();
        foreach (var project in new[] { "Tensors" })
            foreach (var file in Directory.EnumerateFiles(Path.Combine(root, project), "*.cs", SearchOption.AllDirectories))
            {
                var rel = Path.GetRelativePath(root, file).Replace('\\', '/');
                if (rel.Contains("/obj/") || rel.Contains("/bin/") || UnsafeAllowed.Contains(rel)) continue;
                var code = Regex.Replace(File.ReadAllText(file), @"//.*|""(\\.|[^""])*""", "");
                if (Regex.IsMatch(code, @"\bunsafe\b")) offenders.Add(rel);
            }
        Assert.True(offenders.Count == 0, "unsafe code outside the measured exceptions: " + string.Join(", ", offenders));
    }

    private static string RepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Sparkle.sln"))) return d.FullName;
        throw new DirectoryNotFoundException("Sparkle.sln not found above " + AppContext.BaseDirectory);
    }
}
