using System.Diagnostics;
using System.Text;
using Xunit;

namespace Sparkle.Tests.Distributed;

/// <summary>
/// Starts `mpiexec -n N dotnet &lt;dll&gt; args` on loopback with one compute thread per rank and a hard time limit: a
/// hung rank fails the test (the whole process tree is killed) instead of hanging CI. mpiexec missing is a failure with
/// the install line, not a skip: CI installs MPICH (.ci/run).
/// </summary>
internal static class MpiLauncher
{
    public sealed record Result(int ExitCode, string StdOut, string StdErr, double Seconds, bool TimedOut)
    {
        public string Output => $"exit {ExitCode} after {Seconds:F1} s{(TimedOut ? " (killed: time limit)" : "")}\n--- stdout\n{StdOut}\n--- stderr\n{StdErr}";
    }

    /// <summary>The folder of the test assembly, where the worker and the CLI are copied.</summary>
    public static string BinDir => AppContext.BaseDirectory;

    public static string Worker => Path.Combine(BinDir, "Sparkle.DistributedWorker.dll");
    public static string Cli => Path.Combine(BinDir, "sparkle.dll");

    public static string MpiExec()
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator))
        {
            foreach (var name in new[] { "mpiexec", "mpiexec.hydra", "mpirun" })
            {
                var path = Path.Combine(dir, name);
                if (File.Exists(path)) return path;
            }
        }
        Assert.Fail("mpiexec was not found on PATH: the distributed tests need MPICH (Debian/Ubuntu: apt-get install -y mpich; .ci/run installs it).");
        return "";
    }

    /// <summary>Runs <paramref name="dll"/> under mpiexec with <paramref name="ranks"/> ranks.</summary>
    public static Result Run(int ranks, string dll, IEnumerable<string> args, TimeSpan limit, IDictionary<string, string>? env = null)
    {
        var all = new List<string> { "-n", ranks.ToString(System.Globalization.CultureInfo.InvariantCulture), "dotnet", dll };
        all.AddRange(args);
        return Start(MpiExec(), all, limit, env);
    }

    /// <summary>Runs <paramref name="dll"/> as a plain process (no launcher).</summary>
    public static Result RunAlone(string dll, IEnumerable<string> args, TimeSpan limit, IDictionary<string, string>? env = null)
        => Start("dotnet", new[] { dll }.Concat(args), limit, env);

    private static Result Start(string file, IEnumerable<string> args, TimeSpan limit, IDictionary<string, string>? env)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["SPARKLE_NUM_THREADS"] = "1";
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        if (env is not null) foreach (var (k, v) in env) psi.Environment[k] = v;
        var clock = Stopwatch.StartNew();
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {file}");
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (stdout) stdout.AppendLine(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (stderr) stderr.AppendLine(e.Data); };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        bool done = p.WaitForExit(limit);
        if (!done)
        {
            try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            p.WaitForExit(10_000);
        }
        else p.WaitForExit();                       // drain the redirected streams
        string o, e2;
        lock (stdout) o = stdout.ToString();
        lock (stderr) e2 = stderr.ToString();
        return new Result(done ? p.ExitCode : -1, o, e2, clock.Elapsed.TotalSeconds, !done);
    }
}

/// <summary>The distributed tests share the 2 cores: never two mpiexec jobs at once.</summary>
[CollectionDefinition("Distributed", DisableParallelization = true)]
public sealed class DistributedCollection;
