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

    // ---- the stack (DESIGN.md §1): arrows point down only ----

    /// <summary>Each product project and the projects it may reference: the ones below it in
    /// Tensors &lt;- Autograd &lt;- Nn &lt;- Sparse &lt;- Models &lt;- Samples. Gpu sits on Tensors alone and is loaded by the
    /// application (Samples), not by Models; Data needs no more than the layers below Sparse; Distributed (MPI) sits on
    /// Nn and, like Gpu, is loaded by the application only.</summary>
    private static readonly Dictionary<string, string[]> Below = new()
    {
        ["Tensors"] = [],
        ["Autograd"] = ["Tensors"],
        ["Nn"] = ["Tensors", "Autograd"],
        ["Sparse"] = ["Tensors", "Autograd", "Nn"],
        ["Models"] = ["Tensors", "Autograd", "Nn", "Sparse"],
        ["Gpu"] = ["Tensors"],
        ["Data"] = ["Tensors", "Autograd", "Nn"],
        // Optional, loaded only by the application for a distributed run: it implements Nn's ICommunicator over MPI.
        ["Distributed"] = ["Tensors", "Autograd", "Nn"],
        ["Samples"] = ["Tensors", "Autograd", "Nn", "Sparse", "Models", "Gpu", "Data", "Distributed"],
    };

    [Fact]
    public void ProjectsReferenceOnlyProjectsBelowThem()
    {
        var offenders = new List<string>();
        foreach (var (project, csproj) in ProductProjects())
            foreach (Match m in Regex.Matches(File.ReadAllText(csproj), @"<ProjectReference\s+Include=""([^""]+)"""))
            {
                var target = TopFolder(Path.GetRelativePath(Root, Path.GetFullPath(Path.Combine(Path.GetDirectoryName(csproj)!, m.Groups[1].Value.Replace('\\', '/')))));
                if (!Below[project].Contains(target)) offenders.Add($"{Rel(csproj)} -> {target}");
            }
        Assert.True(offenders.Count == 0, "references up or across the stack: " + string.Join(", ", offenders));
    }

    /// <summary>Tensors opens its internals to Autograd (the grad hook) and to the projects that test and time its
    /// kernels, never to a layer above: those use the backend seam.</summary>
    private static readonly string[] TensorsFriends = ["Sparkle.Autograd", "Sparkle.Tests", "Sparkle.Benchmarks"];

    [Fact]
    public void TensorsShowsItsInternalsToNoLayerAboveAutograd()
    {
        var friends = InternalsVisibleTo(Path.Combine(Root, "Tensors"));
        var offenders = friends.Where(f => !TensorsFriends.Contains(f)).ToList();
        Assert.True(offenders.Count == 0, "Sparkle.Tensors has InternalsVisibleTo for projects above Autograd: " + string.Join(", ", offenders));
    }

    [Fact]
    public void OtherProjectsShowTheirInternalsOnlyToTestsAndBenchmarks()
    {
        var offenders = new List<string>();
        foreach (var (project, _) in ProductProjects().Where(p => p.Project != "Tensors"))
            foreach (var f in InternalsVisibleTo(Path.Combine(Root, project)))
                if (f is not ("Sparkle.Tests" or "Sparkle.Benchmarks")) offenders.Add($"{project} -> {f}");
        Assert.True(offenders.Count == 0, "InternalsVisibleTo beyond the tests and benchmarks: " + string.Join(", ", offenders));
    }

    /// <summary>Projects above the seam never touch a CPU storage or a CPU kernel (DESIGN.md §1): the same model then
    /// runs the same algorithm on every device. Tests and Benchmarks are exempt: they test and time CPU kernels.</summary>
    private static readonly string[] AboveTheSeam = ["Autograd", "Nn", "Sparse", "Models", "Data", "Samples"];

    [Fact]
    public void NoCpuBackendUseAboveTheSeam()
    {
        var offenders = new List<string>();
        foreach (var project in AboveTheSeam)
            foreach (var (rel, code) in SourceFiles(project))
                if (Regex.IsMatch(StripCommentsAndStrings(code), @"\bCpuStorage\b|\bSparkle\.Tensors\.Cpu\b"))
                    offenders.Add(rel);
        Assert.True(offenders.Count == 0, "CpuStorage or Sparkle.Tensors.Cpu used above the backend seam: " + string.Join(", ", offenders));
    }

    /// <summary>The APIs that find code by name at run time.</summary>
    private const string LoadByName =
        @"\bType\.GetType\s*\(|\bAssembly\.(Load|LoadFrom|LoadFile|LoadWithPartialName|UnsafeLoadFrom)\s*\(|\bLoadFromAssembly(Name|Path)\s*\(|"
        + @"\bActivator\.CreateInstance(From)?\s*\(\s*""|\bnew\s+AssemblyName\s*\(|\bGetAssemblies\s*\(";

    /// <summary>No arrow up the stack by reflection: a project never finds a project above it (or beside it) by name.
    /// A file that loads by name may not name, in any string, a Sparkle project that its project does not reference.</summary>
    [Fact]
    public void NoReflectionArrowUpTheStack()
    {
        var offenders = new List<string>();
        foreach (var (project, _) in ProductProjects())
            foreach (var (rel, code) in SourceFiles(project))
            {
                if (!Regex.IsMatch(StripCommentsAndStrings(code), LoadByName)) continue;
                foreach (Match m in StringLiterals(code).SelectMany(l => Regex.Matches(l, @"\bSparkle\.(\w+)")))
                {
                    var named = m.Groups[1].Value == "Cli" || m.Groups[1].Value == "GpuCheck" ? "Samples" : m.Groups[1].Value;
                    if (named != project && !Below[project].Contains(named)) offenders.Add($"{rel} finds Sparkle.{m.Groups[1].Value}");
                }
            }
        Assert.True(offenders.Count == 0, "reflection arrows up the stack: " + string.Join(", ", offenders.Distinct()));
    }

    // ---- kernel choice is a visible value (CpuKernelOptions), not a hidden per-thread switch ----

    private static readonly string[] KernelFolders = ["Tensors/Cpu/Conv", "Tensors/Cpu/Gemm", "Tensors/Cpu/Elementwise", "Tensors/Cpu/Sparse", "Tensors/Cpu/Norm", "Tensors/Cpu/Pool", "Tensors/Cpu/Optim"];

    /// <summary>The per-thread state these kernels may keep: scratch buffers (grown once, reused) and the reusable
    /// driver and job objects that own them. None of them picks a kernel.</summary>
    private static readonly string[] ThreadStaticAllowed = ["PackBuffer<T>?", "GemmDriver<T, TK>?", "ParallelJob<T>?"];

    private const string ThreadStaticField =
        @"\[ThreadStatic\]\s*(?:(?:private|internal|public|protected|static|readonly|volatile)\s+)*(?<type>[\w.]+(?:<[^>]*>)?\??)\s+(?<names>\w+(?:\s*,\s*\w+)*)\s*[;=]";

    [Fact]
    public void NoThreadStaticFieldSelectsAKernel()
    {
        var offenders = new List<string>();
        foreach (var folder in KernelFolders)
            foreach (var (rel, code) in SourceFiles(folder))
            {
                var bare = StripCommentsAndStrings(code);
                var fields = Regex.Matches(bare, ThreadStaticField);
                foreach (Match m in fields)
                    if (!ThreadStaticAllowed.Contains(m.Groups["type"].Value)) offenders.Add($"{rel}: {m.Groups["type"].Value} {m.Groups["names"].Value}");
                if (Regex.Matches(bare, @"\[ThreadStatic\]").Count != fields.Count) offenders.Add($"{rel}: a [ThreadStatic] declaration this test cannot read");
                if (Regex.IsMatch(bare, @"\b(ThreadLocal|AsyncLocal)\s*<")) offenders.Add($"{rel}: ThreadLocal/AsyncLocal");
            }
        Assert.True(offenders.Count == 0, "per-thread state that may steer kernel choice (use CpuKernelOptions): " + string.Join(", ", offenders));
    }

    // ---- helpers ----

    private static readonly string Root = RepoRoot();

    /// <summary>(top folder, csproj) of every product project; Samples counts as one layer of several projects.</summary>
    private static IEnumerable<(string Project, string Csproj)> ProductProjects()
    {
        foreach (var project in Below.Keys)
            foreach (var csproj in Directory.EnumerateFiles(Path.Combine(Root, project), "*.csproj", SearchOption.AllDirectories))
                if (!IsBuildOutput(Rel(csproj))) yield return (project, csproj);
    }

    /// <summary>InternalsVisibleTo targets of the project(s) under a folder, from the csproj items and from attributes.</summary>
    private static List<string> InternalsVisibleTo(string folder)
    {
        var found = new List<string>();
        foreach (var csproj in Directory.EnumerateFiles(folder, "*.csproj", SearchOption.AllDirectories))
            foreach (Match m in Regex.Matches(File.ReadAllText(csproj), @"<InternalsVisibleTo\s+Include=""([^"",]+)"))
                found.Add(m.Groups[1].Value.Trim());
        foreach (var (_, code) in SourceFiles(Path.GetRelativePath(Root, folder)))
            foreach (Match m in Regex.Matches(StripComments(code), @"InternalsVisibleTo(Attribute)?\s*\(\s*""([^"",]+)"))
                found.Add(m.Groups[2].Value.Trim());
        return found;
    }

    private static IEnumerable<(string Rel, string Code)> SourceFiles(string project)
    {
        foreach (var file in Directory.EnumerateFiles(Path.Combine(Root, project), "*.cs", SearchOption.AllDirectories))
        {
            var rel = Rel(file);
            if (!IsBuildOutput(rel)) yield return (rel, File.ReadAllText(file));
        }
    }

    private static string Rel(string path) => Path.GetRelativePath(Root, path).Replace('\\', '/');
    private static string TopFolder(string rel) => rel.Replace('\\', '/').Split('/')[0];
    private static bool IsBuildOutput(string rel) => rel.Contains("/obj/") || rel.Contains("/bin/");

    /// <summary>String and char literals (verbatim ones too) and comments, in one pass so that "//" inside a string
    /// or a quote inside a comment cannot fool the other.</summary>
    private static readonly Regex Lexemes = new(
        @"(?<s>@""(?:""""|[^""])*""|""(?:\\.|[^""\\\n])*""|'(?:\\.|[^'\\\n])')|//[^\n]*|/\*.*?\*/", RegexOptions.Singleline);

    private static string StripComments(string code) => Lexemes.Replace(code, m => m.Groups["s"].Success ? m.Value : " ");
    private static string StripCommentsAndStrings(string code) => Lexemes.Replace(code, m => m.Groups["s"].Success ? "\"\"" : " ");
    private static IEnumerable<string> StringLiterals(string code)
        => Lexemes.Matches(code).Where(m => m.Groups["s"].Success).Select(m => m.Value);

    private static string RepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Sparkle.sln"))) return d.FullName;
        throw new DirectoryNotFoundException("Sparkle.sln not found above " + AppContext.BaseDirectory);
    }
}
