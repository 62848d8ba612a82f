namespace Sparkle.Benchmarks.Quick;

/// <summary>
/// A suite of the quick mode (`dotnet run -c Release --project Benchmarks -- quick NAME`): prints one
/// `NAME key=value ...` line per case, median of at least 5 timed runs after warm-up.
/// Suites are found by reflection, so adding one is adding a file.
/// </summary>
public interface IQuickSuite
{
    /// <summary>The name given on the command line and the first token of every output line.</summary>
    string Name { get; }

    /// <summary>Runs every case; <paramref name="args"/> are the remaining command-line words (key=value filters).</summary>
    void Run(string[] args);
}
