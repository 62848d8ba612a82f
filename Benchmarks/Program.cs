using BenchmarkDotNet.Running;

// `quick NAME...` runs the quick mode (see Quick/IQuickSuite.cs); anything else goes to BenchmarkDotNet.
if (args.Length > 0 && args[0] == "quick")
{
    Sparkle.Benchmarks.Quick.QuickRunner.Run(args[1..]);
    return;
}
BenchmarkSwitcher.FromAssembly(typeof(Sparkle.Benchmarks.Quick.IQuickSuite).Assembly).Run(args);
